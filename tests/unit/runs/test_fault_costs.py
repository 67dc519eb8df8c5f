"""The faults experiment's pure parts: the standard faults, the run order (with fakes for
the emulation), the table, the JSON document, the plot, and one-line refusals."""

from __future__ import annotations

import json
import types

import pytest

from fabrictwin.runs import fault_costs
from fabrictwin.runs.fault_costs import (
    check_faults,
    document,
    plot,
    standard_faults,
    table_lines,
)
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli

LS = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=2")


def test_standard_faults_parse_on_a_leaf_spine_and_pick_a_spine():
    labelled = standard_faults(LS, 12.5)
    faults = check_faults(LS, labelled)
    assert [f.kind for _, f in faults] == ["link", "flap", "switch", "loss", "corrupt",
                                           "controller"]
    assert all(f.at_ns == 12_500 for _, f in faults)
    assert dict(labelled)["spine down"].startswith("switch:s")
    assert faults[-1][1].down_ns == 25_000 and faults[1][1].period_ns == 25_000


def test_without_a_controller_the_standard_faults_are_refused_in_one_line():
    from fabrictwin.errors import FabricTwinError

    with pytest.raises(FabricTwinError, match="no controller"):
        check_faults(LS, standard_faults(LS, 1), controller=False)


def row(ok=True, time_us=50.0, **kw):
    base = {"ok": ok, "failure": None if ok else "rank 0 -> rank 1 stalled", "time_us":
            time_us if ok else None, "fault_slowdown": None, "retransmits": 0,
            "reroute_ms": [], "lost_bytes": 0, "pfc_pauses": 0, "model_time_us": 48.0}
    return {**base, **kw}


def test_one_failing_fault_leaves_the_others_and_the_document_says_not_all_completed(
        monkeypatch, tmp_path):
    calls = []

    def fake_measure(emu, g, collective, algorithm, size, run_dir, *, cc=None, faults=()):
        calls.append([f.kind for f in faults])
        if faults and faults[0].kind == "link":
            return row(ok=False, retransmits=40, lost_bytes=4096)
        return row(time_us=75.0 if faults else 50.0, retransmits=7 if faults else 0)

    def fake_emulate(g, dilation, *, traffic, policy, pfc, inside, progress):
        inside(types.SimpleNamespace(plan=types.SimpleNamespace(dilation=1e5)))
        return {"ok": True, "dilation": 1e5}

    monkeypatch.setattr(fault_costs, "measure", fake_measure)
    monkeypatch.setattr(fault_costs, "emulate", fake_emulate)
    faults = check_faults(LS, [("link down", "link:l0-s0@5us"), ("1% loss",
                                                                 "loss:l0-s0@5us/1%")])
    doc = fault_costs.measure_faults(LS, "all_reduce", "ring", 1 << 20, faults, tmp_path)
    assert calls == [[], ["link"], ["loss"]]  # fault-free first, one bring-up
    none, down, loss = doc["rows"]
    assert (none["fault"], none["spec"], none["ok"]) == ("none", None, True)
    assert not down["ok"] and down["time_us"] is None and down["fault_slowdown"] is None
    assert loss["ok"] and loss["fault_slowdown"] == 1.5 and loss["fault_free_time_us"] == 50
    assert (doc["completed"], doc["runs"], doc["ok"]) == (2, 3, False)
    json.dumps(doc)  # all of it goes to faults.json


def test_the_table_shows_failed_runs_without_a_time_and_says_why():
    doc = {"rows": [{"fault": "none", "spec": None, **row()},
                    {"fault": "1% loss", "spec": "loss:a-b@5us/1%",
                     **row(time_us=75.0, fault_slowdown=1.5, retransmits=12)},
                    {"fault": "link down", "spec": "link:a-b@5us",
                     **row(ok=False, retransmits=40, reroute_ms=[3.1], lost_bytes=65536)}]}
    head, none, loss, down, why = table_lines(doc)
    assert head.split()[:4] == ["fault", "spec", "time", "us"]
    assert none.split() == ["none", "-", "50.0", "-", "0", "-", "0", "0", "48.0"]
    assert loss.split() == ["1%", "loss", "loss:a-b@5us/1%", "75.0", "1.50", "12", "-", "0",
                            "0", "48.0"]
    assert down.split() == ["link", "down", "link:a-b@5us", "FAILED", "-", "40", "3.1",
                            "65536", "0", "48.0"]
    assert why == "  link down: rank 0 -> rank 1 stalled"


def test_the_document_is_ok_only_when_every_run_completed():
    rows = [{"fault": "none", "spec": None, **row()}, {"fault": "x", "spec": "s", **row()}]
    assert document(LS, "all_reduce", "ring", 1, {"ok": True, "dilation": 2.0}, rows)["ok"]
    assert not document(LS, "all_reduce", "ring", 1, {"ok": False}, rows)["ok"]
    assert not document(LS, "all_reduce", "ring", 1, {"ok": True}, [])["ok"]


def test_the_plot_has_a_bar_per_fault_and_marks_failures(tmp_path):
    doc = {"collective": "all_reduce", "size_bytes": 1 << 20, "spec": "x",
           "rows": [{"fault": "none", "spec": None, **row()},
                    {"fault": "1% loss", "spec": "loss:a-b@5us/1%",
                     **row(time_us=75.0, fault_slowdown=1.5)},
                    {"fault": "link down", "spec": "link:a-b@5us", **row(ok=False)}]}
    path = plot(doc, tmp_path / "faults.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, fragment", [
    (["--fault", "melt:l0@1us"], "expected KIND:TARGET@TIME"),
    (["--fault", "loss:d0n0g0-d0l0r0@1us/0%"], "above 0% and at most 100%"),
    (["--at", "0us"], "--at: must be positive"),
    (["--at", "soon"], "--at"),
    (["--size", "lots"], "--size: cannot read 'lots'"),
    (["--dilation", "-3"], "--dilation: must be positive"),
    (["no-such.yaml"], "no-such.yaml"),
])
def test_bad_input_is_one_line_before_anything_is_built(args, fragment, tmp_path):
    out = run_cli("experiment", "faults", *args, "--out", str(tmp_path / "out"))
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and fragment in out.stderr
    assert not (tmp_path / "out").exists()
