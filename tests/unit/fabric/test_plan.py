"""The emulation plan (pure): addresses, dilation, forwarding state, delay placement."""

from __future__ import annotations

import ipaddress

import networkx as nx
import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import (
    MIN_EMULATED_DELAY_NS,
    choose_dilation,
    plan_emulation,
)
from fabrictwin.hardware.addressing import host_ip, host_mac, switch_dpid
from fabrictwin.linux.names import check_name
from fabrictwin.topologies.registry import build_topology


def walk(plan, g: nx.Graph, src: str, dst: str) -> list[str]:
    """Follow the planned routes and flow rules from src to dst, as frames would."""
    host = {h.name: h for h in plan.hosts}
    mac_of = {h.name: h.mac for h in plan.hosts}
    ip_of = {h.name: h.ip for h in plan.hosts}
    intf = {dst_ip: i for dst_ip, _, i in host[src].routes}[ip_of[dst]]
    port = int(intf.rsplit("eth", 1)[1])
    node = next(n for n in g[src] if g.edges[src, n]["ports"][src] == port)
    path = [src, node]
    rules = {s.name: s for s in plan.switches}
    while node != dst:
        assert len(path) < 20, path
        rule = next(f for f in rules[node].flows if f"dl_dst={mac_of[dst]}," in f)
        out = int(rule.rsplit(":", 1)[1])
        node = next(n for n in g[node] if g.edges[node, n]["ports"][node] == out)
        path.append(node)
    return path


@pytest.mark.parametrize("spec", ["fat_tree,k=4", "hypernode,profile=dgx-h100",
                                  "ai_factory,hypernodes=2,dcs=2", "rail_optimized,servers=3",
                                  "multi_dc,dcs=3,leaves=2,hosts_per_leaf=2"])
def test_every_pair_routed_along_a_shortest_switch_path(spec):
    g = build_topology(spec)
    plan = plan_emulation(g, 1000.0)
    names = [h.name for h in plan.hosts]
    switch_only = g.subgraph([n for n, k in g.nodes(data="kind") if k == "switch"])
    for src in names:
        for dst in names[::3]:
            if src == dst:
                continue
            path = walk(plan, g, src, dst)
            assert all(g.nodes[n]["kind"] == "switch" for n in path[1:-1])
            best = min(d[b] for a in g[src] if a in switch_only
                       for d in [nx.single_source_shortest_path_length(switch_only, a)]
                       for b in g[dst] if b in d)
            assert len(path) - 3 == best  # hops between the first and last switch


def test_addresses_are_deterministic_and_distinct():
    g = build_topology("fat_tree,k=8")
    a, b = plan_emulation(g, 1.0), plan_emulation(g, 50.0)
    assert [h.ip for h in a.hosts] == [h.ip for h in b.hosts]
    assert len({h.mac for h in a.hosts}) == len(a.hosts) == 128
    assert all(ipaddress.ip_address(h.ip) in ipaddress.ip_network("10.0.0.0/8")
               for h in a.hosts)
    assert host_ip(0) == "10.0.0.1" and host_ip(255) == "10.0.1.0"
    assert host_mac(0) == "02:00:00:00:00:01" and switch_dpid(9) == "000000000000000a"


def test_dilation_scales_rates_and_delays():
    g = build_topology("multi_dc,distance_km=20")
    plan = plan_emulation(g, 100.0)
    for link in plan.links:
        assert link.rate_bps == pytest.approx(link.hw_rate_bps / 100)
    dci = [x for x in plan.links if x.tier == "scale-across"]
    assert dci and all(x.delay_ns == pytest.approx(x.hw_latency_ns * 100) for x in dci)
    assert all(x.delay_line.startswith("ftd") for x in dci)
    # short links fall under the floor and are not delayed
    assert all(x.delay_ns == 0 for x in plan.links if x.hw_latency_ns * 100 <
               MIN_EMULATED_DELAY_NS)
    assert plan.notes


def test_netem_delays_every_link_without_delay_lines():
    plan = plan_emulation(build_topology("fat_tree,k=4"), 1000.0, netem=True)
    assert all(x.delay_ns > 0 and not x.delay_line for x in plan.links)


def test_auto_dilation_brings_the_busiest_link_down():
    g = build_topology("hypernode,profile=gb200-nvl72,collapse=true")
    d = choose_dilation(g, 1e9)
    assert d == pytest.approx(7.2e12 / 1e9)
    assert choose_dilation(build_topology("leaf_spine,nic=cx6-200g"), 1e15) == 1.0


@pytest.mark.parametrize("bad", [0, -1.0])
def test_bad_dilation(bad):
    with pytest.raises(FabricTwinError, match="dilation must be positive"):
        plan_emulation(build_topology("fat_tree,k=2"), bad)


@pytest.mark.parametrize("name", ["eth0;rm", "a" * 16, "-x", "a b", ""])
def test_unsafe_names_never_reach_a_command(name):
    with pytest.raises(FabricTwinError):
        check_name(name)
