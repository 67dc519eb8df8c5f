"""The lossless experiments' pure parts: roles on a leaf-spine, summaries, tables."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.runs.incast_plots import flow_rates, table
from fabrictwin.runs.lossless import (
    DEFAULT_TOPOLOGY,
    IncastSpec,
    headroom_used,
    place,
    queue_percentiles,
    summarise,
)
from fabrictwin.runs.pfc_storm import watchdog_delays
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import ROOT


@pytest.fixture(scope="module")
def graph():
    return build_topology(DEFAULT_TOPOLOGY)


def test_senders_fill_the_other_leaves_first(graph):
    roles = place(graph, 8, victim=False)
    assert roles.receiver == "h0" and roles.leaf_of["h0"] == "l0"
    assert len(set(roles.senders)) == 8 and "h0" not in roles.senders
    first_four = [roles.leaf_of[h] for h in roles.senders[:4]]
    assert first_four[:2] == ["l1", "l2"]  # remote leaves before the receiver's own


def test_the_victim_shares_only_a_sender_leaf(graph):
    roles = place(graph, 8, victim=True)
    src, dst = roles.victim
    assert roles.leaf_of[src] == "l1" and roles.leaf_of[dst] == "l2"
    assert {src, dst}.isdisjoint({roles.receiver, *roles.senders})


def test_impossible_placements_name_the_problem(graph):
    with pytest.raises(FabricTwinError, match="room for 14 senders"):
        place(graph, 15, victim=False)
    with pytest.raises(FabricTwinError, match="needs 3"):
        place(build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=4"), 2, victim=True)
    with pytest.raises(FabricTwinError, match="senders"):
        IncastSpec(senders=0)


def test_queue_percentiles_only_while_the_incast_ran():
    queue = [[-1.0, 9e9, 0, 0], [0.0, 0, 0, 0], [1.0, 100, 0, 0], [2.0, 300, 0, 0],
             [3.0, 200, 0, 0], [4.0, 50, 0, 0], [9.0, 7e9, 0, 0]]
    q = queue_percentiles(queue, 4.0)
    assert q == {"queue_p50_bytes": 100, "queue_p95_bytes": 300, "late_max_queue_bytes": 300}
    assert queue_percentiles(queue, math.nan)["queue_p50_bytes"] is None  # unfinished


def _agent(host, sends=(), recvs=(), **kw):
    base = {"host": host, "sends": list(sends), "recvs": list(recvs), "cnps_sent": 0,
            "ecn_marked": 0, "retransmits": 0, "psn_errors": 0, "naks_sent": 0,
            "pfc_pauses": 0, "pfc_paused_ns": 0, "samples": []}
    return {**base, **kw}


def test_summary_times_drops_and_victim(graph):
    d = 40_000.0
    plan = plan_emulation(graph, d)
    roles = place(graph, 2, victim=True)
    s1, s2 = roles.senders
    vs, vd = roles.victim
    agents = [
        _agent(s1, sends=[{"id": 1, "start_ns": 1_000}], retransmits=3,
               samples=[[1_000, 1, 0, 1e7], [2_000_001_000, 1, 2_500_000, 1e7]]),
        _agent(s2, sends=[{"id": 2, "start_ns": 2_000}], pfc_pauses=4),
        _agent(vs, sends=[{"id": 3, "start_ns": 1_000}], pfc_paused_ns=5 * 10**8),
        _agent(roles.receiver, recvs=[
            {"id": 1, "done": True, "finish_ns": 3_000_001_000, "bytes_received": 10,
             "data_ok": True},
            {"id": 2, "done": True, "finish_ns": 2_000_001_000, "bytes_received": 10,
             "data_ok": True}], psn_errors=2, cnps_sent=7),
        _agent(vd, recvs=[{"id": 3, "done": True, "finish_ns": 1_000_001_000,
                           "bytes_received": 125_000, "data_ok": True}]),
    ]
    pfc = {"lossless_drops": 5, "pauses": 9, "pause_frames": 20, "max_backlog_bytes": 77,
           "max_switch_backlog_bytes": {"l0": 70, "s0": 90},
           "watchdog_events": [{"kind": "triggered", "t_ns": 50, "paused_since_ns": 20},
                               {"kind": "restored", "t_ns": 90, "paused_since_ns": 0}]}
    series = [{"t_ns": 1_000 + k * 10**9, "backlog": {"l0-eth1": 100 * k}, "gated": [],
               "pausing": ["l0-eth6"] if k else []} for k in range(4)]
    r = summarise(IncastSpec(senders=2, victim_bytes=125_000), roles, plan, agents, pfc, {},
                  series)
    # first incast byte sent at 1 us, last landed at 3.000001 s: / D in hardware time
    assert r["emulated_s"] == pytest.approx(3.0)
    assert r["completion_us"] == pytest.approx(3.0 / d * 1e6)
    assert (r["lossless_drops"], r["pauses"], r["cnps"], r["retransmits"]) == (5, 9, 7, 3)
    assert r["host_pauses_obeyed"] == 4 and r["psn_errors"] == 2
    assert r["max_switch_queue_bytes"] == 90 and r["data_ok"]
    v = r["victim"]
    assert v["paused_s"] == 0.5 and v["emulated_s"] == pytest.approx(1.0)
    assert v["throughput_Gbps"] == pytest.approx(125_000 * 8 / 1.0 * d / 1e9)
    assert watchdog_delays(r) == [30]
    assert r["series"]["queue"][2] == [2.0, 200, 0, 1]
    # goodput between two samples, in hardware Gb/s
    t, gbps = flow_rates(r)[s1]
    assert t == [pytest.approx(2.0)] and gbps[0] == pytest.approx(2_500_000 * 8 / 2.0 * d / 1e9)


def test_headroom_used_is_the_worst_pausing_port():
    report = {"switches": {"l0": {"xoff_bytes": 40_000, "headroom_bytes": 50_000},
                           "s0": {"xoff_bytes": 100_000, "headroom_bytes": 20_000},
                           "l1": {"xoff_bytes": 10, "headroom_bytes": 10, "alpha": 2.0}}}
    ports = {"l0-eth1": {"switch": "l0", "xoff_sent": 3, "max_share_bytes": 65_000},
             "l0-eth2": {"switch": "l0", "xoff_sent": 0, "max_share_bytes": 99_999},
             "s0-eth1": {"switch": "s0", "xoff_sent": 1, "max_share_bytes": 106_000},
             "l1-eth1": {"switch": "l1", "xoff_sent": 5, "max_share_bytes": 9_999}}
    # l0-eth1 used half its headroom, s0-eth1 30%; l0-eth2 never paused; l1 is dynamic
    assert headroom_used(ports, report) == 0.5
    assert headroom_used({}, report) is None
    assert headroom_used({"l1-eth1": ports["l1-eth1"]}, report) is None


def test_table_lines_up():
    rows = [{"label": "PFC on", "lossless_drops": 0, "pauses": 12, "pause_frames": 24,
             "cnps": 0, "max_queue_bytes": 1000, "completion_us": 86.654,
             "retransmits": 0, "psn_errors": 0, "headroom_used": 0.6234},
            {"label": "PFC off", "headroom_used": None}]
    lines = table(rows).splitlines()
    assert len(lines) == 3 and len({len(line) for line in lines}) == 1
    assert "86.7" in lines[1] and "0.62" in lines[1] and lines[1].startswith("PFC on")
    assert lines[2].split() == ["PFC", "off", "-"]  # no headroom figure: a dash, not None


@pytest.mark.parametrize(("change", "message"), [
    ({"storm_s": -1.0}, "storm length .* must not be negative"),
    ({"victim_bytes": -5}, "victim bytes must not be negative"),
    ({"cnp_interval_us": 0.0}, "CNP interval .* must be positive"),
    ({"dilation": float("nan")}, "dilation must be positive"),
    ({"ecn_pmax": 1.5}, r"Pmax must be in \(0, 1\]"),
    ({"poll_ms": -10.0}, "poll interval .* must be positive"),
    ({"dilation": float("inf")}, "dilation must be positive and finite"),
    ({"storm_s": float("inf")}, "storm length .* must not be negative or infinite"),
    ({"alpha": 0.0}, "alpha must be positive"),
])
def test_an_impossible_experiment_is_refused_before_bring_up(change, message):
    with pytest.raises(FabricTwinError, match=message):
        IncastSpec(**change)


def test_storm_script_refuses_a_negative_storm_in_one_line():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "pfc_storm.py"),
                          "--storm-s", "-1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "fabrictwin: error: --storm-s must be positive, got -1"
