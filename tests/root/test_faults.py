"""Faults while a collective runs (root): the fabric reroutes, the collective completes."""

from __future__ import annotations

import json
import os
import subprocess

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


def test_the_controller_killed_and_restarted_mid_collective_costs_no_bytes(tmp_path):
    # switches are fail-mode secure: the flows stay while it is down; back, it reinstalls
    # every switch (a short blackout the transport retransmits over)
    out = run_cli("run", "--collective", "all_reduce", "--algo", "ring", "--topo", TOPO,
                  # long enough (~300 us) for the restart (1-2 s of wall time) to land in it
                  "--sizes", "8M", "--fault", "controller@10us/20us", "--json", "--out",
                  str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    (row,) = json.loads(out.stdout)["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row   # every byte checked, none lost
    assert row["faults"] == ["controller@10us/20us"] and row["fault_events"] == 2
    assert row["fault_error"] is None and row["fault_free_time_us"] > 0
    (outage,) = row["controller_outages"]
    assert 0 < outage["down_us"] < outage["up_us"] and not outage["after_size"]
    assert outage["listening_ms"] is not None and outage["reprogrammed_ms"] is not None
    assert outage["reprogrammed_ms"] >= outage["listening_ms"]


def test_loss_on_a_link_mid_collective_is_retransmitted_and_nothing_is_lost(tmp_path):
    # h0's link: every rank of the ring receives, so h0's incoming frames lose 2%
    out = run_cli("run", "--collective", "all_reduce", "--algo", "ring", "--topo", TOPO,
                  "--sizes", "1M", "--fault", "loss:h0-l0@5us/2%", "--json", "--out",
                  str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    (row,) = json.loads(out.stdout)["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row
    assert row["retransmits"] > 0 and row["fault_filters"], row
    assert row["fault_error"] is None and row["fault_slowdown"] > 0
    # the filter went with the size: nothing of it is left on the port
    for intf in row["fault_filters"]:
        shown = subprocess.run(["tc", "filter", "show", "dev", intf, "egress"],
                               capture_output=True, text=True)
        assert "ft-loss" not in shown.stdout


def test_corruption_on_a_link_is_caught_by_the_icrc_and_retransmitted(tmp_path):
    out = run_cli("run", "--collective", "all_reduce", "--algo", "ring", "--topo", TOPO,
                  "--sizes", "1M", "--fault", "corrupt:h0-l0@5us/2%", "--json", "--out",
                  str(tmp_path))
    assert out.returncode == 0, out.stderr[-800:]
    (row,) = json.loads(out.stdout)["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row
    assert row["icrc_errors"] > 0 and row["retransmits"] > 0, row
