"""What the agents of a run are given: NCCL's rings across hyper-nodes, and no case the
model has no figure for."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.schedules import schedule_of, traffic_of
from fabrictwin.topologies.graph import hosts
from fabrictwin.topologies.registry import build_topology

FACTORY = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")


@pytest.mark.parametrize("collective", ["all_reduce", "all_gather", "reduce_scatter"])
def test_rings_across_hyper_nodes_cross_on_every_rail(collective):
    names = hosts(FACTORY)
    sched = schedule_of(FACTORY, names, collective, "ring", 1 << 20)
    node = {h: FACTORY.nodes[h]["hypernode"] for h in names}
    across = {(names[t.src], names[t.dst]) for t in sched.transfers
              if node[names[t.src]] != node[names[t.dst]]}
    # every GPU sends across to the GPU of its own rail (same name but the node), once
    assert len(across) == len(names)
    assert all(a.replace("n0", "n1") == b or a.replace("n1", "n0") == b for a, b in across)


def test_a_plain_clos_keeps_one_ring():
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2")
    names = hosts(g)
    sched = schedule_of(g, names, "all_reduce", "ring", 1 << 20)
    assert {(t.src, t.dst) for t in sched.transfers} == {(r, (r + 1) % 4) for r in range(4)}


def test_a_case_without_a_model_figure_is_refused_before_bring_up():
    with pytest.raises(FabricTwinError, match="broadcast with tree: the model has no figure"):
        traffic_of(FACTORY, "broadcast", "tree", 1 << 20)
    assert traffic_of(FACTORY, "broadcast", "chain", 1 << 20)
    # a fabric the model does not describe runs any schedule the emulator has
    assert traffic_of(build_topology("leaf_spine,leaves=1,spines=0,hosts_per_leaf=4"),
                      "broadcast", "tree", 1 << 20)


def test_a_broadcast_runs_on_every_rail_in_pieces_of_a_few_frames():
    names = hosts(FACTORY)
    for size, pieces in ((1 << 20, 16), (64 << 10, 4), (1 << 30, 64)):
        sched = schedule_of(FACTORY, names, "broadcast", "chain", size)
        assert len(sched.chunk_bytes) == 8 * pieces  # 8 rings (one per rail) x pieces
    assert len(schedule_of(FACTORY, names, "broadcast", "tree", 1 << 20).chunk_bytes) == 64
