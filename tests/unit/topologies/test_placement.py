"""Placement over emulation servers: the cut is on scale-out links, never inside a
hyper-node, every server gets a part."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.topologies.graph import hosts
from fabrictwin.topologies.placement import cut_links, place
from fabrictwin.topologies.registry import build_topology

SPECS = st.one_of(
    st.builds(lambda leaves, spines, hpl: f"leaf_spine,leaves={leaves},spines={spines},"
              f"hosts_per_leaf={hpl}", st.integers(1, 6), st.integers(1, 3), st.integers(1, 4)),
    st.builds(lambda k: f"fat_tree,k={k}", st.sampled_from([2, 4])),
    st.builds(lambda s, gp: f"rail_optimized,servers={s},gpus_per_server={gp}",
              st.integers(1, 4), st.sampled_from([2, 4])),
    st.just("hypernode,profile=dgx-h100,collapse=true"),
    st.just("hypernode,profile=dgx-h100"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=SPECS, servers=st.integers(1, 4))
def test_no_scale_up_link_is_cut_and_every_server_is_used(spec, servers):
    g = build_topology(spec)
    try:
        where = place(g, servers)
    except FabricTwinError as e:
        assert "more than the" in str(e)
        return
    assert set(where) == set(g) and set(where.values()) == set(range(servers))
    for u, v in cut_links(g, where):
        assert g.edges[u, v]["tier"] != "scale-up", (u, v)
    for h in hosts(g):  # a host without scale-up links sits with a switch it is attached to
        if all(g.edges[h, n]["tier"] != "scale-up" for n in g[h]):
            assert any(where[n] == where[h] for n in g[h])


def test_hypernodes_stay_whole_and_the_cut_is_on_the_uplinks():
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2")
    where = place(g, 2)
    assert {n for n, s in where.items() if s == 1} == {"l1", "h2", "h3"}
    assert cut_links(g, where) == [("s0", "l1")]
    g = build_topology("hypernode,profile=dgx-h100,collapse=true")
    assert set(place(g, 1).values()) == {0}
    with pytest.raises(FabricTwinError, match="more than the 1 parts"):
        place(g, 2)


def test_balanced_over_servers():
    g = build_topology("fat_tree,k=4")
    counts = sorted(list(place(g, 2).values()).count(k) for k in (0, 1))
    assert counts == [18, 18]
