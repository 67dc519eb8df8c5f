"""Collectives over the emulated fabric (root): real RoCEv2 frames between agents."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from fabrictwin.runs.collective import run_sizes
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]

HYPERNODE = "hypernode,profile=dgx-h100,collapse=true"
H100_LINE_GBPS = 450.0  # NVLink 4 per GPU per direction: the ring's per-rank bottleneck


def test_ring_allreduce_on_an_8_gpu_hypernode(tmp_path):
    out = run_cli("run", "--collective", "allreduce", "--topo", HYPERNODE, "--sizes", "1M:2M",
                  "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-500:]
    doc = json.loads(out.stdout)
    assert doc["ranks"] == 8 and doc["collective"] == "all_reduce"
    for row in doc["results"]:
        assert row["ok"] and row["lost_bytes"] == 0
        for key in ("size_bytes", "time_us", "algbw_GBps", "busbw_GBps", "retransmits", "cnps",
                    "ecn_marked", "pfc_pauses"):
            assert key in row
        # busbw in hardware terms, never above NVLink 4's line rate; with the endpoint
        # costs each step pays, the uncongested crossbar agrees with the model
        assert 0 < row["busbw_GBps"] <= H100_LINE_GBPS, row
        assert row["endpoint_costs"] and row["model_time_us"] > 0
        assert 0.9 <= row["emulated_vs_model"] <= 1.15, row
        assert row["time_us"] == pytest.approx(row["model_time_us"] * row["emulated_vs_model"])
    run_dir = next(tmp_path.iterdir())
    for name in ("results.json", "results.csv", "busbw.png", "sample.pcap"):
        assert (run_dir / name).stat().st_size > 0
    decoded = subprocess.run(["tshark", "-r", str(run_dir / "sample.pcap")],
                             capture_output=True, text=True).stdout
    assert "RC RDMA Write" in decoded


def test_ring_across_hyper_nodes_runs_one_ring_per_rail(tmp_path):
    # the default scenario's fabric (2 x 8 GPUs, rail-optimized 8 x 400G): NCCL lays a
    # ring through each NIC, so every GPU's NIC carries one ring each way; with one ring
    # through one NIC per node boundary the emulated run took 1.09-1.74x the model's
    out = run_cli("run", "--collective", "allreduce", "--algo", "ring", "--topo",
                  "ai_factory,hypernodes=2,dcs=1,profile=dgx-h100", "--sizes", "1M",
                  "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-500:]
    doc = json.loads(out.stdout)
    (row,) = doc["results"]
    assert doc["ranks"] == 16 and row["ok"] and row["lost_bytes"] == 0, row
    assert row["endpoint_costs"] and 0.85 <= row["emulated_vs_model"] <= 1.15, row
    run_dir = next(tmp_path.iterdir())
    for path in (run_dir / "agents").glob("size-*/config-*.json"):
        cfg = json.loads(path.read_text())
        rank, peers = cfg["rank"], cfg["peers"]
        dsts = {s["dst"] for s in cfg["sends"]}
        across = {d for d in dsts if d // 8 != rank // 8}
        assert across == {(rank + 8) % 16}, (rank, dsts)  # its own rail's GPU
        nic = peers[str((rank + 8) % 16)]["interface"]
        assert all(peers[str(d)]["interface"] != nic for d in dsts - across)


@pytest.mark.parametrize("collective,model", [("alltoall", "direct/Simple"),
                                              ("broadcast", "ring/LL128")])
def test_collectives_across_hyper_nodes_agree_with_the_model(collective, model, tmp_path):
    # all-to-all: every GPU writes to all 15 peers at once; its sends share its rate, and
    # the receiver's flag checks come with the launch, as in the model. Broadcast: a
    # chain from rank 0 on each of NCCL's 8 rings, forwarded in pieces of a few frames
    out = run_cli("run", "--collective", collective, "--topo",
                  "ai_factory,hypernodes=2,dcs=1,profile=dgx-h100", "--sizes", "1M",
                  "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-500:]
    (row,) = json.loads(out.stdout)["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row
    assert row["model_algorithm"] == model
    assert 0.85 <= row["emulated_vs_model"] <= 1.15, row


def test_collective_completes_despite_injected_drops(tmp_path):
    g = build_topology("leaf_spine,leaves=1,spines=0,hosts_per_leaf=4")
    rows: list[dict] = []

    classes: dict[str, int] = {}

    def inside(emu):
        rows.extend(run_sizes(emu, g, "all_reduce", "ring", [1 << 20], Path(tmp_path),
                              drop_every_n=40))
        # RoCE frames (DSCP 26) went through the lossless class 1:11 of the switch ports
        port = emu.plan.switches[0].ports[0][1]
        out = subprocess.run(["tc", "-s", "class", "show", "dev", port],  # no JSON for classes
                             capture_output=True, text=True, check=True).stdout
        classes.update({h: int(b) for h, b in
                        re.findall(r"class htb (\S+) .*\n\s*Sent (\d+) bytes", out)})

    emulate(g, None, loaded=True, inside=inside)
    (row,) = rows
    assert row["ok"] and row["lost_bytes"] == 0
    assert row["retransmits"] > 0
    assert classes["1:11"] > 1 << 20 > classes["1:10"], classes


def test_run_with_pfc_reports_the_lossless_fabric(tmp_path):
    out = run_cli("run", "--collective", "alltoall", "--topo",
                  "leaf_spine,leaves=1,spines=0,hosts_per_leaf=4", "--sizes", "500K:1M", "--pfc",
                  "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-500:]
    doc = json.loads(out.stdout)
    pfc = doc["pfc"]
    assert pfc["polls"] > 0 and pfc["lossless_drops"] == 0  # the daemon watched, nothing lost
    assert pfc["thresholds"]["switches"]["l0"]["xoff_bytes"] > 0
    assert all(row["ok"] and row["lost_bytes"] == 0 for row in doc["results"])
    # each size's window of the daemon's polls: no more than the run saw
    rows = doc["results"]
    assert [r["size_bytes"] for r in rows] == [500 * 1024, 1000 * 1024]  # nccl-tests: K = 1024
    assert sum(r["switch_pauses"] for r in rows) <= pfc["pauses"]
    assert 0 < max(r["max_queue_bytes"] for r in rows) <= pfc["max_backlog_bytes"]
    assert "timeline" not in out.stdout  # kept in results.json (once), not printed
    saved = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    assert saved["pfc"]["timeline"][-1][1] == pfc["pauses"]
    assert "pfc" not in saved["emulation"]


def test_scenario_pfc_settings_reach_the_switches(tmp_path):
    scenario = tmp_path / "lossless.yaml"
    scenario.write_text("name: lossless\ntopology: leaf_spine,leaves=1,spines=0,hosts_per_leaf=4\n"
                        "collective: alltoall\nsizes: 500K\n"
                        "pfc:\n  buffer: 2MB\n  alpha: 2\n"
                        "  watchdog: {detect_us: 10, restore_us: 25, action: forward}\n")
    out = run_cli("run", str(scenario), "--json", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr[-500:]
    doc = json.loads(out.stdout)
    th = doc["pfc"]["thresholds"]
    l0 = th["switches"]["l0"]
    assert th["buffer_bytes"] == l0["buffer_bytes"] == 2_000_000
    assert l0["alpha"] == 2.0 and 0 < l0["shared_bytes"] < 2_000_000
    d = doc["dilation"]
    assert th["watchdog"] == {"detect_ns": pytest.approx(10e3 * d),
                              "restore_ns": pytest.approx(25e3 * d), "action": "forward"}
    assert doc["pfc"]["lossless_drops"] == 0 and doc["results"][0]["ok"]
