"""What a collective's row says when the run went wrong: no figure, and why."""

from __future__ import annotations

from fabrictwin.fabric.plan import frame_path, plan_emulation
from fabrictwin.model.bounds import busbw_bound_GBps
from fabrictwin.runs.collective import judge
from fabrictwin.runs.outputs import failures, nccl_table
from fabrictwin.topologies.registry import build_topology

G = build_topology("hypernode,profile=dgx-h100")
PLAN = plan_emulation(G, 1e5)
HOSTS = [h.name for h in PLAN.hosts]


def agent(rank: int, ok: bool = True, stalled=(), undone_to=()) -> dict:
    return {"rank": rank, "ok": ok, "stalled": list(stalled),
            "sends": [{"id": 1, "dst": d, "done": False} for d in undone_to],
            "recvs": []}


def row(busbw: float = 400.0, lost: int = 0) -> dict:
    return {"size_bytes": 1 << 20, "time_us": 4.0, "algbw_GBps": busbw / 1.75,
            "busbw_GBps": busbw, "lost_bytes": lost, "retransmits": 0, "cnps": 0}


def test_a_completed_row_within_the_bound_keeps_its_figures():
    r = judge(row(), [agent(i) for i in range(8)], HOSTS, PLAN, busbw_bound_GBps(G))
    assert "failure" not in r and r["busbw_GBps"] == 400.0
    assert r["busbw_bound_GBps"] == 450.0


def test_a_stalled_pair_is_named_with_its_path_and_the_figures_go():
    stuck = {"id": 4, "dst": 1, "interface": "g0-eth2", "timeouts": 3}
    results = [agent(0, False, [stuck])] + [agent(i, False) for i in range(1, 8)]
    r = judge(row(), results, HOSTS, PLAN, 450.0)
    assert r["ok"] is False and r["time_us"] is r["algbw_GBps"] is r["busbw_GBps"] is None
    path = " > ".join(frame_path(PLAN, "g0-eth2", "g1"))
    assert r["failure"] == f"rank 0 -> rank 1 (g0 -> g1) stalled after 3 timeouts on {path}"
    assert failures([r]) == [f"size {1 << 20}: FAILED: {r['failure']}"]


def test_incomplete_ranks_are_named_with_their_pairs():
    results = [agent(0, False, undone_to=[1])] + [agent(i) for i in range(1, 8)]
    r = judge(row(), results, HOSTS, PLAN, 450.0)
    assert r["failure"] == "ranks 0 did not complete; incomplete pairs 0 -> 1"


def test_lost_bytes_fail_the_row_even_when_every_agent_finished():
    r = judge(row(lost=4096), [agent(i) for i in range(8)], HOSTS, PLAN, 450.0)
    assert r["failure"] == "4096 bytes lost" and r["busbw_GBps"] is None


def test_a_figure_above_the_hardware_is_an_emulator_fault_not_a_result():
    r = judge(row(busbw=847.0), [agent(i) for i in range(8)], HOSTS, PLAN, 450.0)
    assert r["failure"].startswith("emulator fault: busbw 847.0 GB/s is above 450.0 GB/s")
    assert r["busbw_GBps"] is None


def test_the_table_prints_failed_not_a_number():
    bad = judge(row(lost=1), [agent(i) for i in range(8)], HOSTS, PLAN, 450.0)
    good = judge(row(), [agent(i) for i in range(8)], HOSTS, PLAN, 450.0)
    table = nccl_table("all_reduce", 8, [good, bad])
    cells = [c for col in table.columns for c in col._cells]
    assert "[red]FAILED[/red]" in cells and "400.00" in cells


def test_frame_path_follows_the_static_tables():
    assert frame_path(PLAN, "g0-eth2", "g1") == ["g0-eth2", "c1-eth1", "c1-eth5", "g1-eth2"]
    ft = plan_emulation(build_topology("fat_tree,k=4"), 1e5)
    path = frame_path(ft, "p0e0h0-eth1", "p3e1h1")
    assert path[0] == "p0e0h0-eth1" and path[-1] == "p3e1h1-eth1" and len(path) == 12
