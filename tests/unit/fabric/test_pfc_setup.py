"""PFC of an emulation plan (no root): lossless queues, thresholds, the daemon's config,
and the tc lines of the lossless queue."""

from __future__ import annotations

import json

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import FabricPfc, PortSpec, Watchdog
from fabrictwin.fabric.pfc.setup import (
    FRAME_OVERHEAD,
    LOSSLESS_PRIORITY,
    NS_PER_M,
    PfcOptions,
    lossless_spec,
    pfc_setup,
)
from fabrictwin.fabric.pfc.tc import (
    DROP_LIMIT_BYTES,
    PAUSED_RATE_BPS,
    LosslessQueue,
    lossless_queue,
)
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.hardware.headroom import pfc_headroom
from fabrictwin.topologies.registry import build_topology

SPEC = "leaf_spine,leaves=3,spines=1,hosts_per_leaf=5,uplink_rate=400G"


@pytest.fixture(scope="module")
def plan():
    return plan_emulation(build_topology(SPEC), 40000.0)


@pytest.fixture(scope="module")
def setup(plan):
    return pfc_setup(plan, PfcOptions())


def link_ends(plan):
    for link in plan.links:
        yield link.intf_u, link.u, link
        yield link.intf_v, link.v, link


def test_every_link_end_has_a_lossless_queue(plan, setup):
    opts = PfcOptions()
    hosts = {h.name for h in plan.hosts}
    ends = list(link_ends(plan))
    assert set(setup.queues) == {intf for intf, _node, _link in ends}
    assert len(setup.queues) == 2 * len(plan.links) == 36
    spec = lossless_spec()
    for intf, node, link in ends:
        q = setup.queues[intf]
        assert q.intf == intf
        assert q.limit_bytes == (opts.host_queue_bytes if node in hosts else opts.buffer_bytes)
        assert q.rate_bps == int(link.rate_bps) == 10_000_000  # 400G dilated by 40000
        assert q.burst_bytes == plan.mtu + 22
        assert (q.parent, q.handle) == (f"1:{10 + spec.queue_id}", f"{10 + spec.queue_id}:")
        assert setup.tc_line(intf) == q.line("replace")
    assert setup.tc_line("nope-eth1") is None


def test_daemon_config_lists_switch_ports_with_sane_thresholds(plan, setup):
    hosts = {h.name for h in plan.hosts}
    switch_intfs = {intf for intf, node, _link in link_ends(plan) if node not in hosts}
    ports = setup.daemon["ports"]
    assert {p["intf"] for p in ports} == switch_intfs and len(ports) == len(switch_intfs) == 21
    assert {q["intf"] for q in setup.daemon["queues"]} == switch_intfs
    assert setup.daemon["priority"] == LOSSLESS_PRIORITY == lossless_spec().pfc_priority
    assert setup.daemon["enabled"] is True and setup.daemon["watchdog"] is None
    peer_of = {}
    for intf, node, link in link_ends(plan):
        peer_of[intf] = link.v if node == link.u else link.u
    by_switch: dict[str, list[dict]] = {}
    for p in ports:
        assert p["intf"].startswith(p["switch"] + "-")
        assert p["peer"] == peer_of[p["intf"]]
        assert p["peer_is_host"] == (p["peer"] in hosts)
        assert p["xoff_bytes"] > p["xon_bytes"] >= 0
        by_switch.setdefault(p["switch"], []).append(p)
    assert sorted(by_switch) == ["l0", "l1", "l2", "s0"]
    assert [len(by_switch[s]) for s in ("l0", "l1", "l2", "s0")] == [6, 6, 6, 3]
    buffer = PfcOptions().buffer_bytes
    for sw, plist in by_switch.items():
        r = setup.report["switches"][sw]
        assert r["ingress_ports"] == len(plist)
        assert sum(p["xoff_bytes"] + r["headroom_bytes"] for p in plist) <= buffer
        assert {(p["xoff_bytes"], p["xon_bytes"]) for p in plist} == {
            (r["xoff_bytes"], r["xon_bytes"])}
        assert r["xoff_bytes"] - r["xon_bytes"] == 2 * (plan.mtu + FRAME_OVERHEAD)


def test_daemon_config_is_json_and_builds_the_core(setup):
    text = json.dumps(setup.daemon)
    again = json.loads(text)
    assert again == setup.daemon
    specs = [PortSpec(**p) for p in again["ports"]]
    assert all(isinstance(s, PortSpec) for s in specs)
    assert len(FabricPfc(specs).ports) == len(specs)
    assert [LosslessQueue(**q) for q in again["queues"]] == [
        setup.queues[q["intf"]] for q in again["queues"]]
    json.dumps(setup.report)


def test_watchdog_and_disabled_options_reach_the_daemon(plan):
    s = pfc_setup(plan, PfcOptions(enabled=False, watchdog=Watchdog(1e8, 5e8, "forward"),
                                   poll_ms=5.0))
    d = json.loads(json.dumps(s.daemon))
    assert d["enabled"] is False and d["poll_ms"] == 5.0
    assert d["watchdog"] == {"detect_ns": 1e8, "restore_ns": 5e8, "action": "forward"}
    assert Watchdog(**d["watchdog"]) == Watchdog(1e8, 5e8, "forward")
    assert s.report["enabled"] is False


def test_report_has_hardware_headroom_per_switch(plan, setup):
    report = setup.report
    assert report["buffer_bytes"] == PfcOptions().buffer_bytes
    assert report["priority"] == LOSSLESS_PRIORITY
    link = plan.links[0]
    hw = pfc_headroom(link.hw_rate_bps, link.hw_latency_ns / NS_PER_M,
                      plan.mtu + FRAME_OVERHEAD).total_bytes
    for sw in ("l0", "l1", "l2", "s0"):
        r = report["switches"][sw]
        assert isinstance(r["hardware_headroom_bytes"], int)
        assert r["hardware_headroom_bytes"] == hw > 0   # every link here is 400G, 49 ns
        assert r["buffer_bytes"] == PfcOptions().buffer_bytes


def test_emulated_headroom_grows_with_the_host_queue(plan):
    small = pfc_setup(plan, PfcOptions(host_queue_bytes=4096)).report["switches"]
    big = pfc_setup(plan, PfcOptions(host_queue_bytes=65536)).report["switches"]
    assert big["l0"]["headroom_bytes"] - small["l0"]["headroom_bytes"] == 65536 - 4096
    assert big["s0"]["headroom_bytes"] == small["s0"]["headroom_bytes"]  # no host peers


def test_too_small_buffer_names_the_switch(plan):
    with pytest.raises(FabricTwinError) as e:
        pfc_setup(plan, PfcOptions(buffer_bytes=200_000))
    msg = str(e.value)
    assert msg.startswith("pfc: switch l0: ") and "\n" not in msg
    assert "buffer 200000 B over 6 ingress ports" in msg


def test_alpha_reserves_every_ports_headroom_and_shares_the_rest(plan, setup):
    dyn = pfc_setup(plan, PfcOptions(alpha=2.0))
    for sw, r in dyn.report["switches"].items():
        static = setup.report["switches"][sw]
        assert r["alpha"] == 2.0
        assert r["shared_bytes"] == (r["buffer_bytes"] - r["ingress_ports"]
                                     * r["headroom_bytes"]) > 0
        assert r["xoff_bytes"] == static["xoff_bytes"]  # the static figures stay reported
    assert "alpha" not in setup.report["switches"]["l0"]
    specs = [PortSpec(**p) for p in json.loads(json.dumps(dyn.daemon))["ports"]]
    l0 = next(s for s in specs if s.switch == "l0")
    assert l0.alpha == 2.0 and l0.thresholds(0)[0] == 2 * l0.shared_bytes
    assert all(s.alpha == 0 for s in (PortSpec(**p) for p in setup.daemon["ports"]))


def test_a_hardware_time_watchdog_is_dilated_by_the_plan(plan):
    s = pfc_setup(plan, PfcOptions(watchdog_hw=Watchdog(10e3, 25e3, "forward")))
    d = plan.dilation
    assert d > 1
    assert s.daemon["watchdog"] == {"detect_ns": 10e3 * d, "restore_ns": 25e3 * d,
                                    "action": "forward"}
    assert s.report["watchdog"] == s.daemon["watchdog"]
    with pytest.raises(FabricTwinError, match="not both"):
        PfcOptions(watchdog=Watchdog(1, 1), watchdog_hw=Watchdog(1, 1))


def test_scenario_settings_become_options():
    from fabrictwin.cli.run import pfc_options
    from fabrictwin.runs.scenario import PfcSettings, WatchdogSettings

    assert pfc_options(None) is None
    assert pfc_options(PfcSettings()) == PfcOptions()
    o = pfc_options(PfcSettings(2_000_000, 4.0, WatchdogSettings(10, 25, "forward")))
    assert (o.buffer_bytes, o.alpha, o.watchdog) == (2_000_000, 4.0, None)
    assert o.watchdog_hw == Watchdog(10_000, 25_000, "forward")


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan"), float("inf")])
def test_alpha_must_be_positive(alpha):
    with pytest.raises(FabricTwinError, match="pfc: alpha must be positive"):
        PfcOptions(alpha=alpha)


@pytest.mark.parametrize("key", ["buffer_bytes", "host_queue_bytes", "poll_ms", "reaction_ms"])
@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_options_reject_non_positive(key, value):
    with pytest.raises(FabricTwinError, match=f"pfc: {key} must be positive"):
        PfcOptions(**{key: value})


# -- tc ----------------------------------------------------------------------------------------
Q = LosslessQueue("l0-eth1", "1:11", "11:", 10_000_000, 1522, 1_000_000)


def test_line_normal_paused_drop():
    assert Q.line() == ("qdisc replace dev l0-eth1 parent 1:11 handle 11: "
                        "tbf rate 10000000bit burst 1522 limit 1000000")
    assert Q.line("change", paused=True) == (
        "qdisc change dev l0-eth1 parent 1:11 handle 11: tbf rate 1000bit burst 1522 "
        "limit 1000000")
    assert Q.line("change", drop=True) == (
        "qdisc change dev l0-eth1 parent 1:11 handle 11: tbf rate 10000000bit burst 1522 "
        "limit 1")
    assert Q.line("add", paused=True, drop=True).endswith("rate 1000bit burst 1522 limit 1")
    assert (PAUSED_RATE_BPS, DROP_LIMIT_BYTES) == (1000, 1)


@pytest.mark.parametrize("mtu", [1500, 4200, 9000])
def test_lossless_queue_shape(mtu):
    spec = lossless_spec()
    q = lossless_queue("s0-eth2", spec, 12.5e6, mtu, 50_000)
    n = 10 + spec.queue_id
    assert q == LosslessQueue("s0-eth2", f"1:{n}", f"{n}:", 12_500_000, mtu + 22, 50_000)
    # never less than one maximal frame
    assert lossless_queue("s0-eth2", spec, 1e7, mtu, 100).limit_bytes == mtu + 22
