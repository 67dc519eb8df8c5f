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
    all_to_all,
    all_to_all_v,
    broadcast,
    btree_parents,
    build_schedule,
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
from tests.helpers.schedules import (
    assert_even_share,
    check_deps,
    check_orders,
    full,
    ranks,
    seeds,
    sizes,
)


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
