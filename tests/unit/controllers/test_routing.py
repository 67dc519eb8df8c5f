"""Controller routing (pure core against fake datapaths): reachability, ECMP, failover."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest

from fabrictwin.controllers.classes import TABLE_ROUTE
from fabrictwin.controllers.messages import GroupAction, GroupMod, Output
from tests.helpers.controller_fake import FakeNetwork, walk
from tests.helpers.routing import LOSSLESS, bring_up, check_all_pairs


def test_fat_tree_every_host_reachable_from_every_switch_on_all_shortest_paths():
    g, _core, net = bring_up("fat_tree,k=4")
    check_all_pairs(g, net)


def test_host_to_host_all_pairs_fat_tree():
    g, _core, net = bring_up("fat_tree,k=4")
    hosts = [n for n, k in g.nodes(data="kind") if k == "host"]
    for src, dst in itertools.permutations(hosts, 2):
        traces = walk(net, src, dst, LOSSLESS)
        assert {t.path[-1] for t in traces} == {dst}
        assert {len(t.path) - 1 for t in traces} == {nx.shortest_path_length(g, src, dst)}


@pytest.mark.parametrize("spec", ["leaf_spine", "rail_optimized", "multi_dc",
                                  "hypernode,profile=dgx-h100", "ai_factory"])
def test_other_builders_reachable(spec):
    g, _core, net = bring_up(spec)
    # A hyper-node's scale-up chips reach only their own GPUs: the scale-out fabric is
    # entered through a GPU's NIC, so no switch-only path leads to another node's GPUs.
    chips = [(d.get("dc"), d.get("hypernode")) for _, d in g.nodes(data=True)
             if d.get("role") == "chip"]
    gpus = [(d.get("dc"), d.get("hypernode")) for _, d in g.nodes(data=True)
            if d.get("role") == "gpu"]
    cut = sum(1 for c in chips for h in gpus if h != c) if spec == "ai_factory" else 0
    assert check_all_pairs(g, net, packets=(LOSSLESS,), unreachable=cut) > 0


def _route_group(net: FakeNetwork, switch: str, host_mac: str) -> GroupMod | None:
    sw = net.by_name[switch]
    flow = sw.lookup(TABLE_ROUTE, {"eth_dst": host_mac})
    assert flow is not None
    (action,) = flow.actions
    return sw.groups[action.group_id] if isinstance(action, GroupAction) else None


@pytest.mark.parametrize("k", [4, 8])
def test_ecmp_groups_have_a_bucket_per_equal_cost_uplink(k):
    g, core, net = bring_up(f"fat_tree,k={k}")
    fabric = core.fabric
    for s in fabric.switches:
        role = g.nodes[s]["role"]
        if role == "core":
            assert not net.by_name[s].groups.keys() - {0x200000 + p for p in fabric.ports(s)}
            continue
        uplinks = {p for n, p in fabric.switch_links[s]
                   if g.nodes[n]["role"] == ("agg" if role == "edge" else "core")}
        assert len(uplinks) == k // 2
        for h in fabric.hosts:
            if g.nodes[h]["pod"] == g.nodes[s]["pod"] and (
                    role == "agg" or h in dict(fabric.host_links[s])):
                continue  # reached downwards: one port
            group = _route_group(net, s, fabric.mac[h])
            assert group is not None and group.group_type == "select"
            assert {b.actions[0].port for b in group.buckets} == uplinks
            assert all(isinstance(b.actions[0], Output) for b in group.buckets)
    # one ECMP group per switch is enough in a fat-tree: every remote host shares it
    edge = next(s for s in fabric.switches if g.nodes[s]["role"] == "edge")
    assert len(core.tables[edge].groups) == 1


def _agg_core_link(g: nx.Graph) -> tuple[str, str]:
    agg = next(n for n, r in g.nodes(data="role") if r == "agg")
    return agg, next(n for n in g[agg] if g.nodes[n]["role"] == "core")


def test_agg_core_port_down_reroutes_with_few_mods_and_recovers():
    g, core, net = bring_up("fat_tree,k=4")
    agg, cor = _agg_core_link(g)
    fabric = core.fabric
    dead = {frozenset((agg, cor))}
    step = core.port_status(fabric.dpid[agg], g.edges[agg, cor]["ports"][agg], False, 1.0)
    mods = net.send(step)
    # the other end reports too: nothing more to do
    again = core.port_status(fabric.dpid[cor], g.edges[agg, cor]["ports"][cor], False, 1.001)
    assert not again.messages and not again.decisions
    (decision,) = step.decisions
    assert decision.kind == "reroute" and decision.data["dead_links"] == [sorted((agg, cor))]
    assert decision.data["unreachable_hosts"] == []
    check_all_pairs(g, net, dead)
    # Only the groups that lost the core and the core's own routes into the pod change;
    # a from-scratch reinstall of all 20 switches would be ~1000 messages.
    assert 0 < mods <= 40, mods
    assert core.dead_links() == dead

    # a link is up again once both ends are: the first end alone changes nothing
    assert core.port_status(fabric.dpid[agg], g.edges[agg, cor]["ports"][agg], True, 2.0) \
        .messages == ()
    net.send(core.port_status(fabric.dpid[cor], g.edges[agg, cor]["ports"][cor], True, 2.0))
    assert core.dead_links() == set()
    check_all_pairs(g, net)


def test_edge_agg_port_down_walks_avoid_the_dead_link():
    g, core, net = bring_up("fat_tree,k=4")
    edge = next(n for n, r in g.nodes(data="role") if r == "edge")
    agg = next(n for n in g[edge] if g.nodes[n]["role"] == "agg")
    net.send(core.port_status(core.fabric.dpid[edge], g.edges[edge, agg]["ports"][edge],
                              False, 1.0))
    check_all_pairs(g, net, {frozenset((edge, agg))})


def test_two_failures_in_sequence_then_recovery():
    g, core, net = bring_up("fat_tree,k=4")
    agg, cor = _agg_core_link(g)
    dead = {frozenset((agg, cor))}
    net.send(core.port_status(core.fabric.dpid[agg], g.edges[agg, cor]["ports"][agg], False, 1))
    other = next(n for n in g[cor] if n != agg)
    dead.add(frozenset((other, cor)))
    net.send(core.port_status(core.fabric.dpid[cor], g.edges[other, cor]["ports"][cor], False, 2))
    check_all_pairs(g, net, dead)
    for t, (a, b) in enumerate([(agg, cor), (cor, other)]):  # the ends that reported down
        net.send(core.port_status(core.fabric.dpid[a], g.edges[a, b]["ports"][a], True, 3 + t))
    check_all_pairs(g, net)


def test_host_link_down_makes_only_that_host_unreachable():
    g, core, net = bring_up("fat_tree,k=4")
    host = core.fabric.hosts[0]
    (edge,) = g[host]
    step = core.port_status(core.fabric.dpid[edge], g.edges[edge, host]["ports"][edge], False, 1)
    net.send(step)
    assert step.decisions[0].data["unreachable_hosts"] == [host]
    switches = [n for n, k in g.nodes(data="kind") if k == "switch"]
    # every switch loses that host, and only that host
    check_all_pairs(g, net, {frozenset((edge, host))}, unreachable=len(switches))
    for sw in net.switches.values():  # no stale rule towards it anywhere
        assert sw.lookup(TABLE_ROUTE, {"eth_dst": core.fabric.mac[host]}).priority == 0


def test_switch_disconnect_routes_around_it_and_reconnect_reinstalls():
    g, core, net = bring_up("fat_tree,k=4")
    cor = next(n for n, r in g.nodes(data="role") if r == "core")
    dpid = core.fabric.dpid[cor]
    net.connected.discard(dpid)
    net.send(core.switch_down(dpid, 1.0))
    dead = {frozenset((cor, n)) for n in g[cor]}
    check_all_pairs(g, net, dead, sources=[n for n, k in g.nodes(data="kind")
                                           if k == "switch" and n != cor])
    net.connected.add(dpid)
    net.send(core.switch_up(dpid, 2.0))
    check_all_pairs(g, net)


def test_port_snapshot_ignores_unknown_ports_and_unknown_dpids():
    _g, core, _net = bring_up("fat_tree,k=4")
    assert core.port_snapshot(1, {0xFFFFFFFE: False, 99: False}, 0).messages == ()
    assert core.switch_up(12345, 0) == core.port_status(12345, 1, False, 0)
