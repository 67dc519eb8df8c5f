"""Which emulation server each node of a fabric runs on (pure), for Mininet's cluster mode.

A fabric too large for one machine is cut over several servers; every link cut
becomes a tunnel between two servers, slower and less faithful than a veth. The
cut therefore goes through the scale-out (or scale-across) tier only:

- every scale-up link keeps its ends together, so a hyper-node (its GPUs and
  its switch trays) is whole on one server;
- a host with no scale-up link stays with the first switch it is attached to
  (a leaf and its hosts together);
- the groups that hold hosts are taken in the topology's own order (hosts' order,
  which follows pods, rails and data centres) and cut into ``servers`` runs of
  about equal node count, so neighbouring groups share a server;
- switches with no host (spines, cores, DCI routers) then go where most of their
  links go, the least loaded server on a tie.

>>> from fabrictwin.topologies.registry import build_topology
>>> g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2")
>>> place(g, 2)
{'h0': 0, 'h1': 0, 'l0': 0, 'h2': 1, 'h3': 1, 'l1': 1, 's0': 0}
>>> cut_links(g, place(g, 2))
[('s0', 'l1')]
"""

from __future__ import annotations

from collections import Counter

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.topologies.graph import hosts, switches


def _groups(g: nx.Graph) -> list[list[str]]:
    """Nodes that must share a server: scale-up components, each host with its switch."""
    parent = {n: n for n in g}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for u, v, tier in g.edges(data="tier"):
        if tier == "scale-up":
            union(u, v)
    sw = set(switches(g))
    for h in hosts(g):
        if not any(g.edges[h, n]["tier"] == "scale-up" for n in g[h]):
            attached = sorted(n for n in g[h] if n in sw)
            if attached:
                union(h, attached[0])
    members: dict[str, list[str]] = {}
    order = {n: i for i, n in enumerate([*hosts(g), *switches(g)])}
    for n in sorted(g, key=order.__getitem__):
        members.setdefault(find(n), []).append(n)
    return list(members.values())


def place(g: nx.Graph, servers: int) -> dict[str, int]:
    """Server index (0 .. ``servers``-1) of every node of ``g``; see the module's rules."""
    if servers < 1:
        raise FabricTwinError(f"servers must be at least 1, got {servers}")
    groups = _groups(g)
    host_set = set(hosts(g))
    with_hosts = [grp for grp in groups if host_set & set(grp)]
    if servers > len(with_hosts):
        raise FabricTwinError(f"servers: {servers} is more than the {len(with_hosts)} parts "
                              "this fabric can be cut into on its scale-out tier")
    total = sum(len(grp) for grp in with_hosts)
    where: dict[str, int] = {}
    load = [0] * servers
    done = 0
    for i, grp in enumerate(with_hosts):
        # by the group's midpoint along the order: runs of about total/servers nodes,
        # and never fewer groups left than servers still empty
        k = min(servers - 1, int((done + len(grp) / 2) * servers / total))
        k = max(k, servers - (len(with_hosts) - i))
        k = min(k, max(where.values(), default=-1) + 1)  # no server skipped
        for n in grp:
            where[n] = k
        load[k] += len(grp)
        done += len(grp)
    for grp in groups:
        if grp[0] in where:
            continue
        links = Counter(where[m] for n in grp for m in g[n] if m in where)
        k = min(range(servers), key=lambda s: (-links[s], load[s], s))
        for n in grp:
            where[n] = k
        load[k] += len(grp)
    return {n: where[n] for grp in groups for n in grp}


def cut_links(g: nx.Graph, where: dict[str, int]) -> list[tuple[str, str]]:
    """The links of ``g`` whose ends are on two servers under placement ``where``."""
    return [(u, v) for u, v in g.edges if where[u] != where[v]]
