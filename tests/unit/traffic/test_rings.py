"""Ring schedules (pure): one ring, and NCCL's rings across nodes, one per rail."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.rings import all_gather, channel_rings, reduce_scatter, ring_all_reduce
from tests.helpers.schedules import (
    assert_even_share,
    check_deps,
    check_orders,
    full,
    ranks,
    seeds,
    sizes,
)


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
