"""Collective schedules (pure): bytes moved, final holdings, and dependencies that suffice."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.collectives import (
    ScheduleError,
    agent_view,
    all_gather,
    all_to_all,
    all_to_all_v,
    broadcast,
    btree_parents,
    build_schedule,
    channel_rings,
    double_binary_tree_all_reduce,
    execute,
    halving_doubling_all_reduce,
    hierarchical_all_reduce,
    kv_pool_read,
    kv_transfer,
    moe_matrix,
    pipeline,
    reduce_scatter,
    ring_all_reduce,
    verify,
)
from fabrictwin.traffic.schedule import COPY, REDUCE, ScheduleBuilder, random_order

ranks = st.integers(min_value=1, max_value=20)
sizes = st.integers(min_value=0, max_value=1 << 22)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def full(n: int) -> frozenset[int]:
    return frozenset(range(n))


def check_orders(schedule, seed: int, orders: int = 4):
    """Agents run sends as soon as their deps are in: any dependency order must work."""
    rng = random.Random(seed)
    final = verify(schedule)
    for _ in range(orders):
        assert verify(schedule, random_order(schedule, rng)) == final
    return final


def check_deps(schedule) -> None:
    """Every dependency is a receive at the sender, from an earlier step."""
    step_of = {t.id: i for i, step in enumerate(schedule.steps) for t in step}
    by_id = {t.id: t for t in schedule.transfers}
    for t in schedule.transfers:
        for d in t.deps:
            assert by_id[d].dst == t.src
            assert step_of[d] < step_of[t.id]


def assert_even_share(sent: list[int], chunks_per_rank: int, chunk_bytes: tuple[int, ...]
                      ) -> None:
    """Every rank sends ``chunks_per_rank`` chunks: exactly that many of the buffer's
    chunks when they are equal, within the smallest and largest chunk when not."""
    lo, hi = min(chunk_bytes), max(chunk_bytes)
    assert hi - lo <= 1  # the buffer is split as evenly as bytes allow
    assert all(chunks_per_rank * lo <= b <= chunks_per_rank * hi for b in sent), sent


@settings(max_examples=60, deadline=None)
@given(n=ranks, size=sizes, seed=seeds)
def test_ring_all_reduce(n, size, seed):
    s = ring_all_reduce(n, size)
    assert s.total_bytes == 2 * (n - 1) * size
    assert_even_share(s.bytes_sent(), 2 * (n - 1), s.chunk_bytes)
    assert len(s.steps) == 2 * (n - 1)
    held = check_orders(s, seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(n))
    check_deps(s)


@settings(max_examples=40, deadline=None)
@given(n=ranks, size=sizes, seed=seeds)
def test_ring_all_reduce_in_any_ring_order(n, size, seed):
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = check_orders(ring_all_reduce(n, size, order=order), seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(n))


@settings(max_examples=60, deadline=None)
@given(n=ranks, size=sizes, seed=seeds)
def test_reduce_scatter_and_all_gather(n, size, seed):
    rs, ag = reduce_scatter(n, size), all_gather(n, size)
    assert rs.total_bytes == ag.total_bytes == (n - 1) * size
    held = check_orders(rs, seed)
    assert all(held[r][r] == full(n) for r in range(n))
    held = check_orders(ag, seed)
    assert all(held[r][c] == {c} for r in range(n) for c in range(n))
    assert_even_share(rs.bytes_sent(), n - 1, rs.chunk_bytes)
    assert_even_share(ag.bytes_sent(), n - 1, ag.chunk_bytes)


@pytest.mark.parametrize("nodes,local", [(2, 2), (2, 8), (3, 4), (4, 8)])
def test_channel_rings_cross_nodes_on_one_rail_each(nodes, local):
    node_of = [r // local for r in range(nodes * local)]
    rings = channel_rings(nodes * local, node_of)
    assert len(rings) == local
    crossings = []
    for ring in rings:
        assert sorted(ring) == list(range(nodes * local))  # every rank once
        hops = list(zip(ring, ring[1:] + ring[:1], strict=True))
        across = [(a, b) for a, b in hops if node_of[a] != node_of[b]]
        assert len(across) == nodes  # the ring enters and leaves each node once
        same_rail = [a % local == b % local for a, b in across]
        # rail-aligned everywhere, but for the hop back with an odd number of nodes
        assert sum(same_rail) == nodes - (nodes % 2)
        crossings += [(node_of[a], a % local) for a, b in across if a % local == b % local]
    # every node sends on each rail at most once: the rings share the rails out evenly
    assert len(crossings) == len(set(crossings))


def test_channel_rings_fall_back_to_one_ring():
    assert channel_rings(4) == [[0, 1, 2, 3]]
    assert channel_rings(4, [0, 0, 0, 0]) == [[0, 1, 2, 3]]  # one node
    assert channel_rings(3, [0, 1, 2]) == [[0, 1, 2]]  # one GPU per node
    assert channel_rings(5, [0, 0, 0, 1, 1]) == [[0, 1, 2, 3, 4]]  # unequal nodes
    with pytest.raises(FabricTwinError, match="node_of names 2 ranks"):
        channel_rings(3, [0, 1])


@settings(max_examples=30, deadline=None)
@given(nodes=st.integers(2, 4), local=st.integers(2, 4), size=sizes, seed=seeds)
def test_ring_collectives_on_channel_rings(nodes, local, size, seed):
    n = nodes * local
    node_of = [r // local for r in range(n)]
    s = ring_all_reduce(n, size, node_of=node_of)
    assert s.total_bytes == 2 * (n - 1) * size and len(s.steps) == 2 * (n - 1)
    held = check_orders(s, seed)
    assert all(v == full(n) for r in range(n) for v in held[r].values())
    check_deps(s)
    rs, ag = reduce_scatter(n, size, node_of=node_of), all_gather(n, size, node_of=node_of)
    assert rs.total_bytes == ag.total_bytes == (n - 1) * size
    held = check_orders(rs, seed)
    assert all(held[r][c * n + r] == full(n) for r in range(n) for c in range(local))
    held = check_orders(ag, seed)
    assert all(held[r][c * n + q] == {q} for r in range(n) for q in range(n)
               for c in range(local))
    # each rank sends its share on every ring: the same bytes as on one ring
    assert_even_share(ag.bytes_sent(), local * (n - 1), ag.chunk_bytes)


@settings(max_examples=30, deadline=None)
@given(nodes=st.integers(2, 4), local=st.integers(2, 4), size=sizes, seed=seeds,
       data=st.data())
def test_broadcast_chain_on_channel_rings(nodes, local, size, seed, data):
    n = nodes * local
    root = data.draw(st.integers(0, n - 1))
    node_of = [r // local for r in range(n)]
    s = broadcast(n, size, root=root, node_of=node_of)
    assert s.total_bytes == (n - 1) * size  # every rank but the root gets S once
    held = check_orders(s, seed)
    assert all(held[r][c] == {root} for r in range(n) for c in range(len(s.chunk_bytes)))
    across = {(t.src, t.dst) for t in s.transfers if node_of[t.src] != node_of[t.dst]}
    assert len(across) >= local  # its share leaves the root's node on every rail


@settings(max_examples=60, deadline=None)
@given(n=ranks, size=sizes, seed=seeds)
def test_halving_doubling_all_reduce(n, size, seed):
    s = halving_doubling_all_reduce(n, size)
    p = 1 << (n.bit_length() - 1)
    assert s.total_bytes == 2 * (n - 1) * size
    held = check_orders(s, seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(p))
    if n == p:  # Rabenseifner: 2(n-1)/n of the buffer per rank
        assert_even_share(s.bytes_sent(), 2 * (n - 1), s.chunk_bytes)
        assert len(s.steps) == 2 * (n.bit_length() - 1)
    check_deps(s)


@settings(max_examples=60, deadline=None)
@given(n=ranks, size=sizes, seed=seeds, pipe=st.integers(1, 5))
def test_double_binary_tree_all_reduce(n, size, seed, pipe):
    s = double_binary_tree_all_reduce(n, size, pipeline=pipe)
    assert s.total_bytes == 2 * (n - 1) * size
    held = check_orders(s, seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(2 * pipe))
    check_deps(s)


@pytest.mark.parametrize("n", range(1, 65))
def test_binary_trees_are_trees(n):
    from fabrictwin.traffic.collectives import _second_tree

    for parents in (btree_parents(n), _second_tree(n)):
        assert sum(p < 0 for p in parents) == 1
        assert max((parents.count(r) for r in range(n)), default=0) <= 2
        for r in range(n):  # every rank reaches the root
            seen, v = set(), r
            while parents[v] >= 0:
                assert v not in seen
                seen.add(v)
                v = parents[v]
    inner = [{p for p in t if p >= 0} for t in (btree_parents(n), _second_tree(n))]
    # NCCL's point: a rank forwards in at most one tree (odd n: the shift leaves one rank)
    assert len(inner[0] & inner[1]) <= (n % 2)


@settings(max_examples=40, deadline=None)
@given(n=ranks, size=sizes, seed=seeds, algorithm=st.sampled_from(["chain", "tree"]),
       data=st.data())
def test_broadcast(n, size, seed, algorithm, data):
    root = data.draw(st.integers(0, n - 1))
    s = broadcast(n, size, root=root, algorithm=algorithm, pipeline=3)
    assert s.total_bytes == (n - 1) * size
    held = check_orders(s, seed)
    assert all(held[r][c] == {root} for r in range(n) for c in range(3))


@settings(max_examples=40, deadline=None)
@given(n=ranks, size=sizes, seed=seeds)
def test_all_to_all_delivers_every_block(n, size, seed):
    s = all_to_all(n, size)
    assert s.total_bytes == (n - 1) * size
    held = check_orders(s, seed)
    blocks = {(t.src, t.dst): t.size_bytes for t in s.transfers}
    for src in range(n):
        for dst in range(n):
            if src != dst and size // n + (dst < size % n):
                assert held[dst][src * n + dst] == {src}
                assert blocks[src, dst] == size // n + (dst < size % n)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 10), seed=seeds)
def test_moe_all_to_all_v(n, seed):
    m = moe_matrix(n, tokens_per_rank=50, token_bytes=256, top_k=2, experts_per_rank=2, seed=seed)
    assert all(sum(row) == 50 * 2 * 256 for row in m)
    s = all_to_all_v(m)
    assert s.total_bytes == sum(m[a][b] for a in range(n) for b in range(n) if a != b)
    held = check_orders(s, seed)
    assert all(held[d][a * n + d] == {a} for a in range(n) for d in range(n) if m[a][d])


@settings(max_examples=30, deadline=None)
@given(stages=st.integers(2, 6), micro=st.integers(1, 5), lanes=st.integers(1, 3), seed=seeds)
def test_pipeline(stages, micro, lanes, seed):
    s = pipeline(stages, micro, 1000, ranks_per_stage=lanes)
    assert s.total_bytes == 2 * (stages - 1) * micro * lanes * 1000
    held = check_orders(s, seed)
    last = (stages - 1) * lanes
    for m in range(micro):
        for j in range(lanes):
            assert held[last + j][m * lanes + j] == full(stages)  # forward pass complete
            assert held[j][(micro + m) * lanes + j] == full(stages)  # gradients back at stage 0
    check_deps(s)


@settings(max_examples=40, deadline=None)
@given(nodes=st.integers(1, 5), local=st.integers(1, 5), size=sizes, seed=seeds)
def test_hierarchical_all_reduce(nodes, local, size, seed):
    node_of = [r // local for r in range(nodes * local)]
    random.Random(seed).shuffle(node_of)  # ranks of a node need not be contiguous
    n = len(node_of)
    s = hierarchical_all_reduce(node_of, size)
    assert s.total_bytes == 2 * (n - 1) * size
    across = sum(t.size_bytes for t in s.transfers if node_of[t.src] != node_of[t.dst])
    assert across == 2 * (nodes - 1) * size  # only the inter-node all-reduce leaves a node
    held = check_orders(s, seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(nodes * local))


@settings(max_examples=40, deadline=None)
@given(dcs=st.integers(1, 3), nodes=st.integers(1, 3), local=st.integers(1, 3), size=sizes,
       seed=seeds)
def test_hierarchical_all_reduce_across_dcs(dcs, nodes, local, size, seed):
    n = dcs * nodes * local
    node_of = [r // local for r in range(n)]
    dc_of = [r // (local * nodes) for r in range(n)]
    s = hierarchical_all_reduce(node_of, size, dc_of=dc_of)
    assert s.total_bytes == 2 * (n - 1) * size
    # only the DC level crosses a DCI: 2 (C - 1) S in all, between C DCs
    across = sum(t.size_bytes for t in s.transfers if dc_of[t.src] != dc_of[t.dst])
    assert across == 2 * (dcs - 1) * size
    # the same local index and node position meet across DCs
    for t in s.transfers:
        if dc_of[t.src] != dc_of[t.dst]:
            assert t.src % (local * nodes) == t.dst % (local * nodes)
    held = check_orders(s, seed)
    assert all(held[r][c] == full(n) for r in range(n) for c in range(n))


def test_hierarchical_needs_equal_dcs():
    with pytest.raises(FabricTwinError, match="same number of nodes"):
        hierarchical_all_reduce([0, 1, 2], 100, dc_of=[0, 0, 1])


def test_hierarchical_needs_equal_nodes():
    with pytest.raises(FabricTwinError, match="same number of ranks"):
        hierarchical_all_reduce([0, 0, 1], 100)


@settings(max_examples=30, deadline=None)
@given(tp_p=st.integers(1, 4), tp_d=st.integers(1, 4), requests=st.integers(0, 6),
       blocks=st.integers(1, 4), seed=seeds)
def test_kv_transfer_reshards_prefill_to_decode(tp_p, tp_d, requests, blocks, seed):
    prefill = [list(range(0, tp_p)), list(range(tp_p, 2 * tp_p))]
    decode = [list(range(2 * tp_p, 2 * tp_p + tp_d))]
    s = kv_transfer(prefill, decode, requests, kv_bytes=12_000, blocks=blocks)
    assert s.total_bytes == 12_000 * requests
    assert all(t.src < 2 * tp_p <= t.dst for t in s.transfers)
    held = check_orders(s, seed)
    for r, c, want in s.goal:
        assert held[r][c] == want and r in decode[0]
    # every decode rank ends with an equal share of each request's heads, up to the
    # rounding of each block's split over the prefill shards and the decode ranks
    per_rank = {d: sum(s.chunk_bytes[c] for r, c, _ in s.goal if r == d) for d in decode[0]}
    assert max(per_rank.values(), default=0) - min(per_rank.values(), default=0) <= \
        requests * blocks * (tp_p + tp_d)


def test_kv_pool_read_answers_after_the_request():
    s = kv_pool_read(readers=[0, 1], pool=[2, 3, 4], blocks_per_reader=3, block_bytes=4096)
    check_orders(s, 7)
    by_id = {t.id: t for t in s.transfers}
    answers = [t for t in s.transfers if t.size_bytes == 4096]
    assert len(answers) == 6 and s.total_bytes == 6 * (4096 + 64)
    for t in answers:  # the pool rank answers only once the reader's request is in
        assert [by_id[d].src for d in t.deps] == [t.dst]
    with pytest.raises(FabricTwinError):
        kv_pool_read(readers=[0], pool=[0], blocks_per_reader=1, block_bytes=1)


def test_missing_dependency_is_caught():
    s = ring_all_reduce(4, 4000)
    victim = next(t for t in s.transfers if t.deps)
    broken = replace(s, steps=tuple(tuple(replace(t, deps=()) if t.id == victim.id else t
                                          for t in step) for step in s.steps))
    rng = random.Random(0)
    failures = 0
    for _ in range(200):
        try:
            verify(broken, random_order(broken, rng))
        except ScheduleError:
            failures += 1
    assert failures > 0  # some order runs it before its data is there
    with pytest.raises(ScheduleError, match="started before"):
        order = [t.id for t in s.transfers]
        order.remove(victim.deps[0])
        order.append(victim.deps[0])
        execute(s, order=order)


def test_double_count_and_missing_data_are_caught():
    b = ScheduleBuilder("bad", 2, 10, [10])
    b.hold(0, 0, {0})
    b.hold(1, 0, {1})
    b.want(1, 0, {0, 1})
    b.send(0, 0, 1, (0,), REDUCE)
    b.send(1, 0, 1, (0,), REDUCE)  # the same contribution reduced twice
    with pytest.raises(ScheduleError, match="twice"):
        execute(b.build())
    b = ScheduleBuilder("bad", 3, 10, [10])
    b.hold(0, 0, {0})
    b.send(0, 1, 2, (0,), COPY)
    with pytest.raises(ScheduleError, match="does not hold"):
        b.build()
    b = ScheduleBuilder("racy", 3, 10, [10])
    for r in range(3):
        b.hold(r, 0, {r})
    b.send(0, 0, 1, (0,), REDUCE)
    b.send(0, 1, 2, (0,), REDUCE)  # rank 1 sends chunk 0 in the step it receives it
    with pytest.raises(ScheduleError, match="reads and writes"):
        b.build()


def test_goal_mismatch_is_reported():
    s = reduce_scatter(3, 300)
    cut = replace(s, steps=s.steps[:-1])
    with pytest.raises(ScheduleError, match="expected"):
        verify(cut)


@pytest.mark.parametrize("schedule", [ring_all_reduce(6, 6000), all_to_all(5, 5000),
                                      kv_pool_read([0], [1, 2], 2, 100)])
def test_agent_views_partition_the_schedule(schedule):
    sends, recvs = [], []
    for r in range(schedule.ranks):
        view = agent_view(schedule, r)
        mine = {x["id"] for x in view["recvs"]}
        assert all(set(x["deps"]) <= mine for x in view["sends"])
        sends += [x["id"] for x in view["sends"]]
        recvs += [x["id"] for x in view["recvs"]]
    ids = sorted(t.id for t in schedule.transfers)
    assert sorted(sends) == sorted(recvs) == ids


def test_build_schedule_by_name_and_bad_input():
    assert build_schedule("ring_all_reduce", n=4, size_bytes=400).total_bytes == 2400
    with pytest.raises(FabricTwinError, match="unknown 'ring'"):
        build_schedule("ring", n=4, size_bytes=1)
    with pytest.raises(FabricTwinError, match="schedule ring_all_reduce"):
        build_schedule("ring_all_reduce", ranks=4)
    with pytest.raises(FabricTwinError, match="ranks must be at least 1"):
        ring_all_reduce(0, 10)
