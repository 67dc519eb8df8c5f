"""``fabrictwin project --from-run``: what a run measured, projected onto a larger factory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fabrictwin.model import predict
from fabrictwin.model.algorithm import choose, options
from fabrictwin.model.emulated import prediction, system_of
from fabrictwin.topologies.graph import hosts
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli

SPEC = "ai_factory,hypernodes=2,dcs=1,profile=dgx-h100"


def fake_run(tmp: Path, slowdown: float, **counters) -> Path:
    """A run directory whose rows took ``slowdown`` x the model's bandwidth time."""
    g = build_topology(SPEC)
    system = system_of(g, hosts(g))
    rows = []
    for size in (1 << 20, 4 << 20, 16 << 20):
        p = prediction(system, "all_reduce", "hierarchical", size)
        costs = options(system, "all_reduce", "phased")
        lat = costs[int(choose(np.array([size]), costs)[0])].latency_s * 1e6
        model_us = float(p.time_s[0]) * 1e6
        time_us = lat + (model_us - lat) * slowdown
        rows.append({"size_bytes": size, "ok": True, "time_us": time_us,
                     "model_time_us": model_us, "emulated_vs_model": time_us / model_us,
                     "endpoint_costs": True, "retransmits": 0, "pfc_pauses": 0, **counters})
    run = tmp / "run-1"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(
        {"spec": SPEC, "collective": "all_reduce", "algorithm": "hierarchical", "ranks": 16,
         "results": rows}))
    return tmp


def project(*args: str) -> dict:
    out = run_cli("project", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_congested_run_projects_slower_than_the_ideal_model(tmp_path):
    doc = project("--from-run", str(fake_run(tmp_path, 2.0, pfc_pauses=40)), "--nodes", "64",
                  "--size", "64M")
    (m,) = doc["measured"]
    g = build_topology(SPEC)  # the run's bottleneck tier by the model is the one measured
    small = system_of(g, hosts(g))
    assert m["tier"] == predict(small, "all_reduce", [16 << 20], "phased").bottleneck[0]
    assert m["efficiency"] == pytest.approx(0.5, rel=1e-6)
    assert m["evidence"]["pfc_pauses"] == 120
    (row,) = doc["results"]
    assert doc["gpus"] == 512 and doc["nodes"] == 64
    # NCCL's per-channel caps already slow the ideal at 64 nodes, so half the tier's
    # bandwidth costs less than it did on the uncapped model (1.19x here)
    assert row["projected_time_us"] > 1.15 * row["model_time_us"]
    assert row["projected_busbw_GBps"] < row["model_busbw_GBps"]


def test_an_uncongested_run_projects_as_the_model(tmp_path):
    doc = project("--from-run", str(fake_run(tmp_path, 1.0)), "--nodes", "64", "--size", "64M")
    (row,) = doc["results"]
    assert doc["measured"][0]["efficiency"] == pytest.approx(1.0, rel=1e-3)
    assert row["projected_time_us"] == pytest.approx(row["model_time_us"], rel=1e-3)


def test_an_incast_teaches_the_scale_out_tier(tmp_path):
    incast = [{"spec": {"senders": 8, "bytes_per_sender": 524288}, "completion_us": 200.0,
               "topology": "leaf_spine,leaves=2,spines=1,hosts_per_leaf=8", "receiver": "h1",
               "data_ok": True, "pauses": 90, "retransmits": 0, "pfc": "on", "dcqcn": "on"}]
    (tmp_path / "incast.json").write_text(json.dumps(incast))
    doc = project("--from-run", str(tmp_path), "--system", "dgx-h100", "--collective",
                  "all_reduce", "--nodes", "16", "--size", "256M")
    (m,) = doc["measured"]
    assert m["tier"] == "scale-out" and 0 < m["efficiency"] < 1
    assert doc["results"][0]["slowdown"] > 1


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("latin-1"))
    return path.parent


@pytest.mark.parametrize("setup,message", [
    (lambda p: p, "no results.json or incast.json"),
    (lambda p: p / "missing", "does not exist"),
    (lambda p: write(p / "results.json", "[1, 2]"), "neither a run"),
    (lambda p: write(p / "results.json", "\xff{"), "cannot read"),
])
def test_bad_runs_are_refused_in_one_line(tmp_path, setup, message):
    out = run_cli("project", "--from-run", str(setup(tmp_path)), "--nodes", "4")
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_run_faster_than_the_model_keeps_the_ideal_rate_and_says_so(tmp_path):
    doc = project("--from-run", str(fake_run(tmp_path, 0.8)), "--nodes", "64", "--size", "64M")
    (m,) = doc["measured"]
    assert m["efficiency"] == pytest.approx(1.25) and m["applied"] == 1.0
    assert "ideal rate is kept" in m["note"]
    (row,) = doc["results"]
    assert row["projected_time_us"] == pytest.approx(row["model_time_us"])
