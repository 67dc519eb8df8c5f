"""Traffic across data centres (root): a 10 km DCI, collectives and pipelines over it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from fabrictwin.runs.scenario import TWO_DC_SCENARIO
from tests.helpers.cli import run_cli

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]


def _run(tmp_path, *args: str) -> dict:
    out = run_cli("run", str(TWO_DC_SCENARIO), *args, "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    return json.loads(out.stdout)


def _check_row(doc: dict) -> dict:
    (row,) = doc["results"]
    # every byte arrived and matched what was sent; the row stands beside the model
    assert row["ok"] and row["lost_bytes"] == 0, row
    assert not row["cpu_bound"], row
    assert row["endpoint_costs"] and 0.9 <= row["emulated_vs_model"] <= 1.1, row
    assert row["busbw_GBps"] <= row["busbw_bound_GBps"]
    # D came from the routed load, and the run says what set it
    choice = doc["emulation"]["dilation_choice"]
    assert choice["dilation"] == pytest.approx(doc["dilation"])
    assert any(n.startswith("dilation ") and "set by" in n for n in doc["emulation"]["notes"])
    return row


def test_hierarchical_all_reduce_across_two_dcs_at_10_km(tmp_path):
    doc = _run(tmp_path)
    assert doc["ranks"] == 4 and doc["algorithm"] == "hierarchical"
    row = _check_row(doc)
    # 10 km of fibre: the cross-DC steps pay at least a one-way DCI latency each way
    assert row["time_us"] > 2 * 49
    # the NVLink phase sets D: 4 GPUs at 450 GB/s at once
    assert "step 0" in doc["emulation"]["dilation_choice"]["set_by"]


def test_pipeline_send_recv_between_stages_in_two_dcs(tmp_path):
    doc = _run(tmp_path, "--collective", "sendrecv", "--algo", "pipeline")
    row = _check_row(doc)
    assert row["transfers"] == 2 * 2  # two lanes, forward and back
    # only NICs and the DCI carry it: a D far below the all-reduce's NVLink-sized one
    assert doc["dilation"] < 1e5


def test_lossless_dci_too_long_for_the_buffer_is_refused_before_bring_up(tmp_path):
    before = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    out = run_cli("run", "--collective", "all_reduce", "--algo", "hierarchical", "--pfc",
                  "--topo", "ai_factory,hypernodes=1,dcs=2,profile=dgx-h100,gpus_per_tray=1,"
                  "spines=1,dci=zr800,distance_km=100", "--out", str(tmp_path))
    assert out.returncode == 2, out.stderr[-500:]
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, out.stderr
    assert "not feasible" in lines[0] and "--dci-lossy" in lines[0]
    assert "100 km" in lines[0]
    after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert len(after.splitlines()) == len(before.splitlines())  # nothing was built
    assert not any(tmp_path.iterdir())
