"""Ring schedules (pure): ring all-reduce, reduce-scatter and all-gather, and the rings
NCCL lays across nodes, one per rail (:func:`channel_rings`).

A ring pass moves one chunk group per member and step around each ring; hierarchical
all-reduce (:mod:`fabrictwin.traffic.collectives`) runs the same passes on the rings
of each level.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.schedule import (
    COPY,
    REDUCE,
    Schedule,
    ScheduleBuilder,
    check_ranks,
    split,
)

#: A ring: its members in order, and the chunk group each member owns.
Ring = tuple[Sequence[int], Sequence[tuple[int, ...]]]


def _ring_pass(b: ScheduleBuilder, base: int, rings: Sequence[Ring], shift: int, op: str) -> int:
    """One ring pass on each (members, groups): at step s member i sends group i-s-shift."""
    steps = max((len(m) - 1 for m, _ in rings), default=0)
    for s in range(steps):
        for members, groups in rings:
            m = len(members)
            if s < m - 1:
                for i in range(m):
                    b.send(base + s, members[i], members[(i + 1) % m],
                           groups[(i - s - shift) % m], op)
    return steps


def ring_rs(b: ScheduleBuilder, base: int, rings: Sequence[Ring]) -> int:
    """Ring reduce-scatter on each (members, groups): member i ends with group i. Steps used."""
    return _ring_pass(b, base, rings, 1, REDUCE)


def ring_ag(b: ScheduleBuilder, base: int, rings: Sequence[Ring]) -> int:
    """Ring all-gather on each (members, groups): member i starts with group i."""
    return _ring_pass(b, base, rings, 0, COPY)


def channel_rings(n: int, node_of: Sequence[int] | None = None) -> list[list[int]]:
    """The rings a flat ring collective runs on, as NCCL lays its channels across nodes.

    One ring in rank order within one node (or without ``node_of``). Across nodes of
    k GPUs each, k rings, one per GPU of a node (one per NIC of a rail-optimized
    node, as NCCL's topology search lays a channel through each NIC): ring c visits
    the nodes in order, every hop between neighbouring nodes joins GPUs of the same
    local index (so it stays on one rail), and the k rings cross each node boundary on
    k different rails, one ring per rail and direction. Consecutive nodes alternate
    direction so that a ring leaves a node on the rail it enters the next one; with an
    odd number of nodes the hop back to the first node changes rail. Nodes of
    unequal size get the single ring.

    >>> channel_rings(4, [0, 0, 1, 1])
    [[0, 1, 3, 2], [1, 0, 2, 3]]
    >>> channel_rings(3)
    [[0, 1, 2]]
    """
    if node_of is None:
        return [list(range(n))]
    if len(node_of) != n:
        raise FabricTwinError(f"rings: node_of names {len(node_of)} ranks, not {n}")
    nodes: dict[int, list[int]] = {}
    for rank, node in enumerate(node_of):
        nodes.setdefault(node, []).append(rank)
    members = list(nodes.values())
    k = len(members[0]) if members else 0
    if len(members) < 2 or k < 2 or any(len(m) != k for m in members):
        return [list(range(n))]
    rings = []
    for c in range(k):
        ring: list[int] = []
        for j, local in enumerate(members):
            ring += [local[(c + i) % k] if j % 2 == 0 else local[(c - 1 - i) % k]
                     for i in range(k)]
        rings.append(ring)
    return rings


def rings_by_rank(n: int, rings: Sequence[Sequence[int]]) -> list[Ring]:
    """Ring ``c`` carries chunk ``c * n + r`` for rank ``r``: each member owns the chunk
    of the rank it is."""
    return [(ring, [(c * n + r,) for r in ring]) for c, ring in enumerate(rings)]


def ring_all_reduce(n: int, size_bytes: int, order: Sequence[int] | None = None,
                    node_of: Sequence[int] | None = None) -> Schedule:
    """Ring all-reduce: n-1 reduce-scatter steps then n-1 all-gather steps around ``order``,
    or, given each rank's node, on NCCL's rings across nodes (:func:`channel_rings`),
    each carrying its share of the buffer."""
    check_ranks("ring_all_reduce", n)
    if order is not None and node_of is not None:
        raise FabricTwinError("ring_all_reduce: give order or node_of, not both")
    members = list(order) if order is not None else list(range(n))
    if sorted(members) != list(range(n)):
        raise FabricTwinError("ring_all_reduce: order must list every rank once")
    rings = rings_by_rank(n, [members] if order is not None else channel_rings(n, node_of))
    b = ScheduleBuilder("ring_all_reduce", n, size_bytes, split(size_bytes, len(rings) * n))
    b.reduce_everything(len(rings) * n)
    ring_ag(b, ring_rs(b, 0, rings), rings)
    return b.build()


def reduce_scatter(n: int, size_bytes: int, node_of: Sequence[int] | None = None) -> Schedule:
    """Ring reduce-scatter: rank r ends with chunk r reduced over all ranks (given each
    rank's node, with its chunk's share on each of NCCL's rings, :func:`channel_rings`)."""
    check_ranks("reduce_scatter", n)
    rings = channel_rings(n, node_of)
    chunks = len(rings) * n
    b = ScheduleBuilder("reduce_scatter", n, size_bytes, split(size_bytes, chunks))
    for r in range(n):
        for c in range(chunks):
            b.hold(r, c, {r})
        for c in range(len(rings)):
            b.want(r, c * n + r, range(n))
    ring_rs(b, 0, rings_by_rank(n, rings))
    return b.build()


def all_gather(n: int, size_bytes: int, node_of: Sequence[int] | None = None) -> Schedule:
    """Ring all-gather: rank r starts with chunk r; every rank ends with every chunk
    (given each rank's node, on NCCL's rings, :func:`channel_rings`)."""
    check_ranks("all_gather", n)
    rings = channel_rings(n, node_of)
    b = ScheduleBuilder("all_gather", n, size_bytes, split(size_bytes, len(rings) * n))
    for r in range(n):
        for c in range(len(rings)):
            b.hold(r, c * n + r, {r})
            for q in range(n):
                b.want(r, c * n + q, {q})
    ring_ag(b, 0, rings_by_rank(n, rings))
    return b.build()
