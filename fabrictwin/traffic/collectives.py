"""Collective schedules (pure): training collectives, hierarchical variants, inference traffic.

Every builder returns a :class:`~fabrictwin.traffic.schedule.Schedule` whose ``goal``
states the collective's result, so :func:`verify` proves it. Sizes follow nccl-tests:
``size_bytes`` is the all-reduce buffer, the whole gathered array of all-gather and
reduce-scatter, and each rank's send buffer of all-to-all.

Bytes on the wire (all ranks together, S = size_bytes, n ranks): ring, halving-doubling
and double-binary-tree all-reduce 2(n-1)S; all-gather, reduce-scatter, broadcast and
all-to-all (n-1)S. Hierarchical all-reduce moves the same total but only 2(G-1)S
between G nodes. Ring schedules (and NCCL's rings across nodes) are built in
:mod:`fabrictwin.traffic.rings`, inference traffic (KV-cache transfer, KV-pool reads,
the MoE dispatch matrix) in :mod:`fabrictwin.traffic.inference`; both are listed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.inference import kv_pool_read, kv_transfer, moe_matrix
from fabrictwin.traffic.rings import (
    Ring,
    all_gather,
    channel_rings,
    reduce_scatter,
    ring_ag,
    ring_all_reduce,
    ring_rs,
)
from fabrictwin.traffic.schedule import (
    COPY,
    REDUCE,
    Schedule,
    ScheduleBuilder,
    ScheduleError,
    agent_view,
    check_ranks,
    execute,
    random_order,
    split,
    verify,
)

__all__ = ["SCHEDULES", "Schedule", "ScheduleError", "agent_view", "all_gather", "all_to_all",
           "all_to_all_v", "broadcast", "build_schedule", "btree_parents", "channel_rings",
           "double_binary_tree_all_reduce", "execute", "halving_doubling_all_reduce",
           "hierarchical_all_reduce", "kv_pool_read", "kv_transfer", "moe_matrix",
           "pipeline", "random_order", "reduce_scatter", "ring_all_reduce", "verify"]

def halving_doubling_all_reduce(n: int, size_bytes: int) -> Schedule:
    """Rabenseifner: recursive-halving reduce-scatter, recursive-doubling all-gather.

    With n not a power of two, the n - p ranks above the largest power p first reduce
    their buffer into rank i - p and get the result back at the end.
    """
    check_ranks("halving_doubling_all_reduce", n)
    p = 1 << (n.bit_length() - 1)
    b = ScheduleBuilder("halving_doubling_all_reduce", n, size_bytes, split(size_bytes, p))
    b.reduce_everything(p)
    step = 0
    if n > p:
        for r in range(p, n):
            b.send(step, r, r - p, range(p), REDUCE)
        step += 1
    span = {r: (0, p) for r in range(p)}
    d = p // 2
    while d >= 1:  # halving: keep the half holding your own final chunk, send the other
        for r in range(p):
            lo, hi = span[r]
            mid = (lo + hi) // 2
            keep, give = ((mid, hi), (lo, mid)) if r & d else ((lo, mid), (mid, hi))
            b.send(step, r, r ^ d, range(*give), REDUCE)
            span[r] = keep
        step, d = step + 1, d // 2
    d = 1
    while d < p:  # doubling: swap what you have, the span doubles
        new = {}
        for r in range(p):
            b.send(step, r, r ^ d, range(*span[r]), COPY)
            (a, _), (c, _) = span[r], span[r ^ d]
            new[r] = (min(a, c), min(a, c) + 2 * (span[r][1] - span[r][0]))
        span, step, d = new, step + 1, d * 2
    for r in range(p, n):
        b.send(step, r - p, r, range(p), COPY)
    return b.build()


def btree_parents(n: int) -> list[int]:
    """NCCL's binary tree over ranks 0..n-1 (root 0, -1 for no parent), from trees.cc's rule:
    the parent of r clears r's lowest set bit and sets the next one (or just clears it)."""
    parents = [-1] * n
    for r in range(1, n):
        bit = r & -r
        up = (r ^ bit) | (bit << 1)
        parents[r] = up if up < n else r ^ bit
    return parents


def _second_tree(n: int) -> list[int]:
    """NCCL's complementary tree: mirrored for even n, shifted by one for odd n."""
    first = btree_parents(n)
    if n % 2:
        return [-1 if first[(r - 1) % n] < 0 else (first[(r - 1) % n] + 1) % n
                for r in range(n)]
    return [-1 if first[n - 1 - r] < 0 else n - 1 - first[n - 1 - r] for r in range(n)]


def _depths_heights(parents: Sequence[int]) -> tuple[list[int], list[int]]:
    n = len(parents)
    depth = [0] * n
    for r in range(n):
        v = r
        while parents[v] >= 0:
            depth[r], v = depth[r] + 1, parents[v]
    height = [0] * n
    for r in sorted(range(n), key=lambda x: -depth[x]):
        if parents[r] >= 0:
            height[parents[r]] = max(height[parents[r]], height[r] + 1)
    return depth, height


def double_binary_tree_all_reduce(n: int, size_bytes: int, pipeline: int = 4) -> Schedule:
    """NCCL's double binary tree: each tree reduces then broadcasts half of the buffer,
    in ``pipeline`` chunks that follow each other up and down the tree."""
    check_ranks("double_binary_tree_all_reduce", n)
    if pipeline < 1:
        raise FabricTwinError(f"double_binary_tree_all_reduce: pipeline must be >= 1, "
                              f"got {pipeline}")
    k = pipeline
    b = ScheduleBuilder("double_binary_tree_all_reduce", n, size_bytes, split(size_bytes, 2 * k))
    b.reduce_everything(2 * k)
    for t, parents in enumerate((btree_parents(n), _second_tree(n))):
        depth, height = _depths_heights(parents)
        top = max(height)
        for r in range(n):
            if parents[r] < 0:
                continue
            for j in range(k):
                c = t * k + j
                # up once every child has sent chunk j; back down once the root has it all
                b.send(height[r] + j, r, parents[r], (c,), REDUCE)
                b.send(top + depth[parents[r]] + j, parents[r], r, (c,), COPY)
    return b.build()


def broadcast(n: int, size_bytes: int, root: int = 0, algorithm: str = "chain",
              pipeline: int = 4, node_of: Sequence[int] | None = None) -> Schedule:
    """Pipelined broadcast from ``root``: a chain (NCCL's ring) or a binary tree. Given
    each rank's node, the chain runs on NCCL's rings (:func:`channel_rings`), each from
    ``root`` with its share of the buffer."""
    check_ranks("broadcast", n)
    if not 0 <= root < n or algorithm not in ("chain", "tree") or pipeline < 1:
        raise FabricTwinError(f"broadcast: bad root {root}, algorithm {algorithm!r} "
                              f"(chain or tree) or pipeline {pipeline}")
    rings = channel_rings(n, node_of) if algorithm == "chain" else [list(range(n))]
    chunks = len(rings) * pipeline
    b = ScheduleBuilder("broadcast", n, size_bytes, split(size_bytes, chunks))
    for c in range(chunks):
        b.hold(root, c, {root})
        for r in range(n):
            b.want(r, c, {root})
    parents = [i - 1 for i in range(n)] if algorithm == "chain" else btree_parents(n)
    depth, _ = _depths_heights(parents)
    for k, ring in enumerate(rings):
        start = ring.index(root)
        label = ring[start:] + ring[:start]  # position i in the chain/tree -> rank
        for i in range(1, n):
            for c in range(pipeline):
                b.send(depth[parents[i]] + c, label[parents[i]], label[i],
                       (k * pipeline + c,), COPY)
    return b.build()


def all_to_all_v(matrix: Sequence[Sequence[int]], name: str = "all_to_all_v") -> Schedule:
    """Rank s sends ``matrix[s][d]`` bytes to rank d; step k pairs s with (s + k) mod n.
    Empty blocks send nothing (as NCCL's alltoallv)."""
    n = len(matrix)
    check_ranks(name, n)
    if any(len(row) != n or min(row) < 0 for row in matrix):
        raise FabricTwinError(f"{name}: matrix must be {n} x {n} non-negative byte counts")
    blocks = [matrix[s][d] for s in range(n) for d in range(n)]
    b = ScheduleBuilder(name, n, max((sum(row) for row in matrix), default=0), blocks)
    for s in range(n):
        for d in range(n):
            b.hold(s, s * n + d, {s})
            if matrix[s][d]:
                b.want(d, s * n + d, {s})
    for k in range(1, n):
        for s in range(n):
            d = (s + k) % n
            if matrix[s][d]:
                b.send(k - 1, s, d, (s * n + d,), COPY)
    return b.build()


def all_to_all(n: int, size_bytes: int) -> Schedule:
    """Uniform all-to-all: each rank's ``size_bytes`` in n blocks, block d to rank d."""
    check_ranks("all_to_all", n)
    return all_to_all_v([split(size_bytes, n)] * n, name="all_to_all")



def pipeline(stages: int, microbatches: int, size_bytes: int, ranks_per_stage: int = 1
             ) -> Schedule:
    """Pipeline-parallel send/recv (GPipe order): activations forward stage by stage, then
    gradients back. Rank = stage x ranks_per_stage + lane; lanes are independent.

    Chunk F(m, lane) holds the stages that have computed microbatch m's activations;
    B(m, lane) the stages that have computed its gradients.
    """
    if stages < 2 or microbatches < 1 or ranks_per_stage < 1:
        raise FabricTwinError("pipeline: needs >= 2 stages, >= 1 microbatch and lane")
    s_, m_, lanes = stages, microbatches, ranks_per_stage
    fwd = [[m * lanes + j for j in range(lanes)] for m in range(m_)]
    bwd = [[(m_ + m) * lanes + j for j in range(lanes)] for m in range(m_)]
    b = ScheduleBuilder("pipeline", s_ * lanes, size_bytes, [size_bytes] * (2 * m_ * lanes))
    rank = [[i * lanes + j for j in range(lanes)] for i in range(s_)]
    for i in range(s_):
        for m in range(m_):
            for j in range(lanes):
                b.hold(rank[i][j], fwd[m][j], {i})
                b.hold(rank[i][j], bwd[m][j], {i})
    for m in range(m_):
        for j in range(lanes):
            b.want(rank[s_ - 1][j], fwd[m][j], range(s_))
            b.want(rank[0][j], bwd[m][j], range(s_))
            for i in range(s_ - 1):
                b.send(m + i, rank[i][j], rank[i + 1][j], (fwd[m][j],), REDUCE)
                # backward starts at the last stage once its forward pass is complete
                after = (fwd[m][j],) if i == s_ - 2 else ()
                b.send(m_ + s_ - 2 + m + (s_ - 2 - i), rank[i + 1][j], rank[i][j],
                       (bwd[m][j],), REDUCE, after=after)
    return b.build()


def hierarchical_all_reduce(node_of: Sequence[int], size_bytes: int,
                            dc_of: Sequence[int] | None = None) -> Schedule:
    """Reduce-scatter inside each node (ring), then between ranks with the same local
    index across the nodes of a DC (ring), then across DCs (ring all-reduce between ranks
    with the same place in their DCs); all-gather back out in reverse (NCCL's
    hierarchical forms; only the outermost level crosses a DCI, once each way).

    Without ``dc_of`` (or with one DC) the middle level spans all nodes: the classic
    two-level form. Every node needs the same number of ranks, every DC of nodes.

    >>> s = hierarchical_all_reduce([0, 0, 1, 1], 1024, dc_of=[0, 0, 1, 1])
    >>> [(t.src, t.dst) for t in s.steps[1]]
    [(0, 2), (2, 0), (1, 3), (3, 1)]
    """
    n = len(node_of)
    check_ranks("hierarchical_all_reduce", n)
    dc_of = list(dc_of) if dc_of is not None else [0] * n
    if len(dc_of) != n:
        raise FabricTwinError("hierarchical_all_reduce: dc_of needs one DC per rank")
    # coordinates (local index, node within its DC, DC) of every rank
    dcs: dict[int, dict[int, list[int]]] = {}
    for r in range(n):
        dcs.setdefault(dc_of[r], {}).setdefault(node_of[r], []).append(r)
    nodes = [m for dc in dcs.values() for m in dc.values()]
    if len({len(m) for m in nodes}) != 1:
        raise FabricTwinError("hierarchical_all_reduce: every node needs the same number "
                              f"of ranks, got {sorted({len(m) for m in nodes})}")
    if len({len(dc) for dc in dcs.values()}) != 1:
        raise FabricTwinError("hierarchical_all_reduce: every DC needs the same number "
                              f"of nodes, got {sorted({len(dc) for dc in dcs.values()})}")
    dims = (len(nodes[0]), len(nodes) // len(dcs), len(dcs))
    coords: dict[tuple[int, int, int], int] = {}
    for c, dc in enumerate(dcs.values()):
        for k, members in enumerate(dc.values()):
            for j, r in enumerate(members):
                coords[j, k, c] = r
    chunks = dims[0] * dims[1] * dims[2]

    def chunk(x: tuple[int, int, int]) -> int:
        return (x[0] * dims[1] + x[1]) * dims[2] + x[2]

    def rings(level: int) -> list[Ring]:
        """Rings of ``level``: ranks sharing every other coordinate, ordered along it;
        member x owns the chunks that agree with it on the levels up to this one."""
        out = []
        for fixed in sorted({x[:level] + x[level + 1:] for x in coords}):
            row = [fixed[:level] + (i,) + fixed[level:] for i in range(dims[level])]
            owned = [tuple(sorted(chunk(y) for y in coords if y[:level + 1] == x[:level + 1]))
                     for x in row]
            out.append(([coords[x] for x in row], owned))
        return out

    b = ScheduleBuilder("hierarchical_all_reduce", n, size_bytes, split(size_bytes, chunks))
    b.reduce_everything(chunks)
    step = 0
    for level in range(3):
        step += ring_rs(b, step, rings(level))
    for level in reversed(range(3)):
        step += ring_ag(b, step, rings(level))
    return b.build()


#: Builders by name, for configuration files and the CLI.
SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "ring_all_reduce": ring_all_reduce,
    "halving_doubling_all_reduce": halving_doubling_all_reduce,
    "double_binary_tree_all_reduce": double_binary_tree_all_reduce,
    "hierarchical_all_reduce": hierarchical_all_reduce,
    "all_gather": all_gather,
    "reduce_scatter": reduce_scatter,
    "broadcast": broadcast,
    "all_to_all": all_to_all,
    "all_to_all_v": all_to_all_v,
    "pipeline": pipeline,
    "kv_transfer": kv_transfer,
    "kv_pool_read": kv_pool_read,
}


def build_schedule(name: str, **params: object) -> Schedule:
    """``build_schedule("ring_all_reduce", n=8, size_bytes=1 << 20)``; one-line errors."""
    if name not in SCHEDULES:
        raise FabricTwinError(f"schedule: unknown {name!r} (known: {', '.join(SCHEDULES)})")
    try:
        return SCHEDULES[name](**params)
    except TypeError as e:  # a wrong or missing parameter name
        raise FabricTwinError(f"schedule {name}: {e}") from None
