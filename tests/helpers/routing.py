"""Bringing the controller's core up against fake switches, and checking every route."""

from __future__ import annotations

import networkx as nx

from fabrictwin.controllers.core import PolicyCore
from fabrictwin.topologies.registry import build_topology
from tests.helpers.controller_fake import FakeNetwork, walk

PLAIN = {"eth_type": 0x0800, "ip_dscp": 0, "ip_ecn": 0}
LOSSLESS = {"eth_type": 0x0800, "ip_dscp": 26, "ip_ecn": 1}
CNP = {"eth_type": 0x0800, "ip_dscp": 48, "ip_ecn": 0}


def bring_up(spec: str, **kw: object) -> tuple[nx.Graph, PolicyCore, FakeNetwork]:
    g = build_topology(spec)
    core = PolicyCore(g, **kw)
    net = FakeNetwork(core.fabric)
    for dpid in net.switches:
        net.send(core.switch_up(dpid, 0.0))
    return g, core, net


def switch_graph(g: nx.Graph, dead: set[frozenset] = frozenset()) -> nx.Graph:
    """``g`` without dead links, where hosts are leaves (hosts never forward)."""
    h = nx.Graph()
    h.add_nodes_from(g)
    for u, v in g.edges:
        if frozenset((u, v)) not in dead:
            h.add_edge(u, v)
    return h


def shortest_paths(live: nx.Graph, hosts: set[str], src: str, dst: str
                   ) -> set[tuple[str, ...]]:
    """Shortest paths that cross switches only."""
    sub = live.subgraph((set(live) - hosts) | {src, dst})
    return {tuple(p) for p in nx.all_shortest_paths(sub, src, dst)}


def check_all_pairs(g: nx.Graph, net: FakeNetwork, dead: set[frozenset] = frozenset(),
                    packets: tuple[dict, ...] = (PLAIN, LOSSLESS, CNP),
                    sources: list[str] | None = None, unreachable: int = 0) -> int:
    """From every switch (or ``sources``) to every host: only, and all, shortest paths.

    A pair with no live path must deliver nothing; exactly ``unreachable`` pairs may be
    such. Returns the number of reachable pairs checked (never zero).
    """
    live = switch_graph(g, dead)
    hosts = [n for n, k in g.nodes(data="kind") if k == "host"]
    checked, cut = 0, []
    for src in sources or [n for n, k in g.nodes(data="kind") if k == "switch"]:
        for dst in hosts:
            if src == dst:
                continue
            sub = live.subgraph((set(live) - set(hosts)) | {src, dst})
            if not nx.has_path(sub, src, dst):
                cut.append((src, dst))
                for pkt in packets:
                    delivered = [t.path for t in walk(net, src, dst, pkt, dead)
                                 if t.path[-1] == dst]
                    assert not delivered, (src, dst, pkt, delivered)
                continue
            want = shortest_paths(live, set(hosts), src, dst)
            for pkt in packets:
                traces = walk(net, src, dst, pkt, dead)
                got = {t.path for t in traces}
                assert got == want, (src, dst, pkt, got ^ want)
            checked += 1
    assert len(cut) == unreachable, f"{len(cut)} pairs cut off, expected {unreachable}: {cut[:4]}"
    assert checked > 0, "no reachable pair was checked"
    return checked
