"""Collectives on full hyper-node crossbars (root): every GPU on every switch chip, its
transfers striped over all planes, every byte checked by the agents; and a broken path
that ends a run early, naming the stuck pair and the path its frames take."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from fabrictwin.model.bounds import busbw_bound_GBps
from fabrictwin.runs.collective import run_sizes
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli

pytestmark = pytest.mark.slow

#: Every chip of the hyper-node is one plane of every GPU: (planes, sizes). With 16-18
#: planes a ring step's parts are a few frames each and latency still shows: 4 MB
#: reached 89.2-91% of the links, 16 MB 93.6% (gb200) and 93.6% (oex) here.
# dgx-h100 at 4 MiB: at 1-2 MiB the 14 ring steps' hand-offs cost 8-11% of the time
# here (401-424 GB/s in runs alone), at 4 MiB 7-8% (415 GB/s)
CROSSBARS = {"hypernode,profile=dgx-h100": (4, "4M"),  # 5/4/4/5 NVLinks, 4 NVSwitches
             "hypernode,profile=gb200-nvl72,compute_trays=2": (18, "16M"),  # 8 GPUs x 18 chips
             # the OEX profile's crossbar, 2 of its 16 compute trays (8 GPUs x 16 chips):
             # its default 64 GPUs take 10 min a size on a 2-core machine
             "hypernode,profile=oex,compute_trays=2": (16, "16M")}


def run_json(spec: str, algo: str, sizes: str, out: Path, *extra: str) -> dict:
    r = run_cli("run", "--collective", "allreduce", "--algo", algo, "--topo", spec,
                "--sizes", sizes, "--json", "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr[-800:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("spec", list(CROSSBARS))
def test_ring_all_reduce_on_the_full_crossbar(spec, tmp_path):
    planes, sizes = CROSSBARS[spec]
    # the fabric's capacity: the wire alone, no endpoint costs (launch, sync, protocol)
    doc = run_json(spec, "ring", sizes, tmp_path, "--wire-only")
    line = busbw_bound_GBps(build_topology(spec))  # the GPU's links together
    assert not doc["cpu_bound"], "the default dilation must keep the run trustworthy"
    for row in doc["results"]:
        assert row["ok"] and row["lost_bytes"] == 0 and row["retransmits"] == 0, row
        assert 0.9 * line <= row["busbw_GBps"] <= line, (row["busbw_GBps"], line)
    # the agents sent on every plane: each GPU's traffic left on all its interfaces
    run_dir = next(tmp_path.iterdir())
    cfg = json.loads(next((run_dir / "agents").glob("size-*/config-0.json")).read_text())
    assert len({s["interface"] for s in cfg["sends"]}) == planes


def test_tree_all_reduce_on_the_dgx_h100_crossbar(tmp_path):
    doc = run_json("hypernode,profile=dgx-h100", "tree", "1M", tmp_path)
    for row in doc["results"]:
        assert row["ok"] and row["lost_bytes"] == 0, row
        assert 0 < row["busbw_GBps"] <= row["busbw_bound_GBps"]


def test_a_broken_path_ends_the_size_early_naming_the_pair(tmp_path):
    """Plane c1 loses its port to g1 and nothing reroutes (static flows): the size fails in
    seconds, not after the agents' timeout, and says who was stuck and where."""
    g = build_topology("hypernode,profile=dgx-h100")
    rows: list[dict] = []
    took: list[float] = []

    def inside(emu):
        port = next(link.intf_v if link.v == "c1" else link.intf_u
                    for link in emu.plan.links if {link.u, link.v} == {"g1", "c1"})
        subprocess.run(["ip", "link", "set", port, "down"], check=True)
        t0 = time.monotonic()
        rows.extend(run_sizes(emu, g, "all_reduce", "ring", [1 << 20], tmp_path))
        took.append(time.monotonic() - t0)

    emulate(g, None, controller=False, loaded=True, inside=inside)
    (row,) = rows
    assert not row["ok"] and row["time_us"] is None and row["busbw_GBps"] is None
    assert row["algbw_GBps"] is None
    assert "-> rank 1 (g0 -> g1) stalled" in row["failure"], row["failure"]
    assert "g0-eth2 > c1-eth1" in row["failure"] and row["failure"].endswith(
        "g1-eth2") or "(+" in row["failure"], row["failure"]
    timeout_s = 30.0  # the agents' own timeout is longer than this
    assert took[0] < timeout_s, took
