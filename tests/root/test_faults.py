"""Faults while a collective runs (root): the fabric reroutes, the collective completes."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.cli import run_cli

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]

TOPO = "leaf_spine,leaves=2,spines=2,hosts_per_leaf=2"


def test_a_link_failing_mid_collective_is_rerouted_and_costs_are_reported(tmp_path):
    # both uplinks of leaf 0 toward spine 0 and spine 1 exist; s0's goes down 10 us in
    out = run_cli("run", "--collective", "all_reduce", "--algo", "ring", "--topo", TOPO,
                  "--sizes", "1M", "--fault", "link:l0-s0@10us", "--json", "--out",
                  str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    (row,) = json.loads(out.stdout)["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row       # RC traffic loses nothing
    assert row["faults"] == ["link:l0-s0@10us"] and row["fault_events"] == 1
    assert row["fault_free_time_us"] > 0 and row["fault_slowdown"] > 0
    # the controller saw the port go down and installed new rules, and says how fast
    assert row["reroute_ms"] and 0 <= row["reroute_ms"][0] < 5000, row["reroute_ms"]


def test_a_fault_naming_nothing_in_the_topology_is_refused_before_bring_up(tmp_path):
    out = run_cli("run", "--collective", "all_reduce", "--topo", TOPO, "--fault",
                  "link:l0-s7@10us", "--out", str(tmp_path))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "no link 'l0-s7'" in line
    assert not any(tmp_path.iterdir())
