"""Two jobs on one fabric (root): a DP all-reduce and PD KV transfers, alone and together."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.cli import run_cli

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]


def test_measured_interference_enters_the_twin(tmp_path):
    out = run_cli("experiment", "interference", "--dp-size", "2M", "--kv-bytes", "1M",
                  "--requests", "4", "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    doc = json.loads(out.stdout)
    assert doc["ok"]
    for label in ("dp alone", "kv alone", "together"):
        run = doc["runs"][label]
        assert run["lost_bytes"] == 0, (label, run)  # every byte arrived and checked
    alone, both = doc["runs"]["dp alone"], doc["runs"]["together"]
    kv_alone = doc["runs"]["kv alone"]
    assert set(alone) >= {"dp_us"} and set(both) >= {"dp_us", "kv_transfer_us"}
    # sharing the 2:1 uplinks cannot make either job faster (5% for the machine's noise)
    assert both["dp_us"] >= 0.95 * alone["dp_us"]
    assert both["kv_transfer_us"] >= 0.95 * kv_alone["kv_transfer_us"]
    assert doc["slowdown"]["dp"] == pytest.approx(both["dp_us"] / alone["dp_us"])
    # the twin takes them, and says where they came from
    twin = run_cli("twin", "llama70b-serve-pd", "--interference",
                   str(tmp_path / "interference.json"), "--json")
    assert twin.returncode == 0, twin.stderr
    applied = json.loads(twin.stdout)["interference"]
    assert applied["kv_transfer"] == pytest.approx(doc["slowdown"]["kv_transfer"])
