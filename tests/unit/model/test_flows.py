"""Flow-level model: ECMP paths and max-min fair rates."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.flows import allocate, ecmp_paths, max_min_fair
from fabrictwin.topologies.registry import build_topology


def hosts(g):
    return [n for n, k in g.nodes(data="kind") if k == "host"]


@pytest.mark.parametrize("senders", [2, 3, 7])
def test_incast_shares_the_receivers_link(senders):
    g = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=8")
    hs = hosts(g)
    receiver = hs[0]
    alloc = allocate(g, [(h, receiver) for h in hs[-senders:]])
    link_bps = g.edges[receiver, next(iter(g[receiver]))]["rate_bps"]
    np.testing.assert_allclose(alloc.rate_bps, link_bps / senders)
    # every sender is held back by the receiver's link
    last_hop = alloc.links.index[(next(iter(g[receiver])), receiver)]
    assert set(alloc.bottleneck) == {last_hop}
    assert alloc.utilisation()[last_hop] == pytest.approx(1.0)


def test_disjoint_paths_get_full_rate():
    g = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=8")
    hs = hosts(g)
    pairs = [(hs[i], hs[i + 1]) for i in range(0, 8, 2)]  # within one leaf, no shared link
    alloc = allocate(g, pairs)
    rates = [g.edges[a, next(iter(g[a]))]["rate_bps"] for a, _ in pairs]
    np.testing.assert_allclose(alloc.rate_bps, rates)


def test_ecmp_is_deterministic_spreads_and_is_shortest():
    g = build_topology("fat_tree,k=4")
    src, dst = "p0e0h0", "p3e1h1"
    pairs = [(src, dst)] * 64
    paths = ecmp_paths(g, pairs, seed=7)
    assert paths == ecmp_paths(g, pairs, seed=7)
    shortest = nx.shortest_path_length(g, src, dst)
    assert all(len(p) == shortest + 1 for p in paths)
    cores = {p[3] for p in paths}
    assert len(cores) == 4  # every core of a k=4 fat-tree carries some of the flows
    assert ecmp_paths(g, pairs, seed=8) != paths


def test_oversubscription_halves_cross_leaf_rates():
    # 8 hosts per leaf at host rate, one uplink of the switch port rate per spine
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=8,uplink_rate=800G")
    hs = hosts(g)
    alloc = allocate(g, [(hs[i], hs[8 + i]) for i in range(8)])
    np.testing.assert_allclose(alloc.rate_bps, 800e9 / 8)


def test_demands_cap_rates():
    rate, bottleneck = max_min_fair([np.array([0]), np.array([0]), np.array([0])],
                                    np.array([90.0]), np.array([10.0, np.inf, np.inf]))
    np.testing.assert_allclose(rate, [10.0, 40.0, 40.0])
    assert bottleneck.tolist() == [-1, 0, 0]


@st.composite
def instances(draw):
    n_links = draw(st.integers(1, 8))
    caps = np.array(draw(st.lists(st.floats(1.0, 1e3), min_size=n_links, max_size=n_links)))
    flows = draw(st.lists(st.sets(st.integers(0, n_links - 1), min_size=1), min_size=1,
                          max_size=12))
    demand = draw(st.lists(st.one_of(st.just(np.inf), st.floats(0.0, 1e3)), min_size=len(flows),
                           max_size=len(flows)))
    return [np.array(sorted(f)) for f in flows], caps, np.array(demand)


def check_max_min(flow_links, caps, demand, rate, bottleneck):
    load = np.zeros(len(caps))
    for fl, r in zip(flow_links, rate, strict=True):
        load[fl] += r
    assert np.all(load <= caps * (1 + 1e-9))  # no link over capacity
    assert np.all(rate <= demand * (1 + 1e-9))
    for f, fl in enumerate(flow_links):
        b = bottleneck[f]
        if b < 0:  # held by its own demand
            assert rate[f] == pytest.approx(demand[f])
            continue
        assert b in fl
        assert load[b] == pytest.approx(caps[b], rel=1e-9)  # the bottleneck is full
        on_b = [rate[g] for g, gl in enumerate(flow_links) if b in gl]
        assert rate[f] >= max(on_b) * (1 - 1e-9)  # and the flow has the most on it


@settings(max_examples=200, deadline=None)
@given(instances())
def test_max_min_fairness_properties(instance):
    flow_links, caps, demand = instance
    rate, bottleneck = max_min_fair(flow_links, caps, demand)
    check_max_min(flow_links, caps, demand, rate, bottleneck)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(3, 12), extra=st.integers(0, 15), seed=st.integers(0, 10_000),
       n_flows=st.integers(1, 20))
def test_random_graphs(n, extra, seed, n_flows):
    rng = np.random.default_rng(seed)
    g = nx.random_labeled_tree(n, seed=seed) if hasattr(nx, "random_labeled_tree") \
        else nx.random_tree(n, seed=seed)
    g = nx.relabel_nodes(g, {i: f"n{i}" for i in g.nodes})
    nodes = list(g.nodes)
    for _ in range(extra):
        a, b = rng.choice(len(nodes), 2, replace=False)
        g.add_edge(nodes[a], nodes[b])
    for u, v in g.edges:
        g.edges[u, v]["rate_bps"] = float(rng.choice([100e9, 200e9, 400e9]))
    pairs = []
    for _ in range(n_flows):
        a, b = rng.choice(len(nodes), 2, replace=False)
        pairs.append((nodes[a], nodes[b]))
    alloc = allocate(g, pairs, seed=seed)
    for (s, d), path in zip(pairs, alloc.paths, strict=True):
        assert path[0] == s and path[-1] == d
        assert len(path) - 1 == nx.shortest_path_length(g, s, d)
    check_max_min(alloc.flow_links, alloc.links.capacity_bps, np.full(len(pairs), np.inf),
                  alloc.rate_bps, alloc.bottleneck)


def test_bad_flows():
    g = build_topology("fat_tree,k=4")
    with pytest.raises(FabricTwinError, match="no such node"):
        allocate(g, [("p0e0h0", "nosuch")])
    with pytest.raises(FabricTwinError, match="same"):
        allocate(g, [("p0e0h0", "p0e0h0")])
    with pytest.raises(FabricTwinError, match="demand_bps"):
        allocate(g, [("p0e0h0", "p0e0h1")], demand_bps=[-1.0])
