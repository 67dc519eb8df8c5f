"""Scale-out Clos builders: two-tier leaf-spine and the k-ary fat-tree.

``fat_tree`` follows Al-Fares, Loukissas and Vahdat, "A Scalable, Commodity Data
Center Network Architecture", SIGCOMM 2008: k pods of k/2 edge and k/2
aggregation switches, (k/2)^2 core switches, k/2 hosts per edge switch, all
switches with k ports: k^3/4 hosts, 5k^2/4 switches, 3k^3/4 links.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from fabrictwin.hardware.catalogue import FIBRE_NS_PER_M, SwitchChip
from fabrictwin.topologies.graph import (
    add_host,
    add_link,
    add_switch,
    check_names,
    new_graph,
    require,
    require_int,
)


def two_level_bisection_bps(sides: Sequence[tuple[int, int]], host_rate_bps: float,
                            uplink_bps: float) -> float:
    """Max flow from side A's hosts to side B's in a two-level Clos.

    ``sides`` gives (A hosts, B hosts) per leaf; every leaf has ``uplink_bps`` to a
    spine layer that reaches every leaf. The min cut puts the spine layer on one
    side and, per leaf, cuts either its hosts of one side or its uplink plus its
    hosts of the other side.
    """
    r, u = host_rate_bps, uplink_bps
    spine_in_b = sum(min(a * r, u + b * r) for a, b in sides)
    spine_in_a = sum(min(b * r, u + a * r) for a, b in sides)
    return min(spine_in_a, spine_in_b)


@dataclass(frozen=True)
class ClosInfo:
    """What :func:`add_clos` built: leaves with their (A, B) host counts, spines, capacities."""

    leaves: list[str]
    spines: list[str]
    uplink_bps: float  # per leaf, to the whole spine layer
    cable_ns: float


def add_clos(g: nx.Graph, servers: Sequence[Sequence[str]], host_rate_bps: float,
             switch: SwitchChip, *, prefix: str = "", servers_per_group: int | None = None,
             spines: int | None = None, uplinks: int = 1, uplink_rate_bps: float | None = None,
             cable_m: float = 10.0, **ids: int) -> ClosInfo:
    """Add a two-level, rail-optimized Clos over existing hosts; return what it built.

    ``servers[s][r]`` is the host on rail ``r`` of server ``s``. Servers are cut into
    groups (scalable units) of ``servers_per_group``; rail ``r`` of group ``G`` is leaf
    ``{prefix}l{G}r{r}`` (``{prefix}l{G}`` with one rail) holding that rail's host of
    every server in the group. Every leaf joins every spine ``{prefix}s{j}`` with
    ``uplinks`` links. Defaults: groups of radix/2 servers and just enough spines
    for 1:1 at a full leaf, NVIDIA SuperPOD style.
    """
    n, rails = len(servers), len(servers[0]) if servers else 0
    require(n >= 1 and rails >= 1, "a Clos needs at least one host")
    spg = min(n, switch.radix // 2) if servers_per_group is None else servers_per_group
    require_int("servers_per_group", spg)
    groups = -(-n // spg)
    n_leaves = groups * rails
    require_int("uplinks", uplinks)
    up_bps = switch.port_rate_bps if uplink_rate_bps is None else uplink_rate_bps
    if spines is None:  # enough uplink bandwidth for 1:1 at a full leaf
        spines = math.ceil(spg * host_rate_bps / (uplinks * up_bps)) if n_leaves > 1 else 0
    require_int("spines", spines, 1 if n_leaves > 1 else 0)
    for what, rate in (("host", host_rate_bps), ("uplink", up_bps)):
        require(rate <= switch.port_rate_bps, f"{what} rate {rate:.4g} b/s exceeds the "
                f"{switch.name} port rate of {switch.port_rate_bps:.4g} b/s")
    leaf_ports = spg + spines * uplinks
    require(leaf_ports <= switch.radix, f"a leaf needs {spg} host + {spines * uplinks} "
            f"uplink ports = {leaf_ports}, {switch.name} radix is {switch.radix}")
    require(n_leaves * uplinks <= switch.radix, f"a spine needs {n_leaves * uplinks} ports "
            f"for {n_leaves} leaves, {switch.name} radix is {switch.radix} (a third tier "
            "would be needed)")
    sw = {"radix": switch.radix, "latency_ns": switch.latency_ns,
          "buffer_bytes": switch.buffer_bytes, **ids}
    lat = cable_m * FIBRE_NS_PER_M
    spine_names = [add_switch(g, f"{prefix}s{j}", "spine", "scale-out", index=j, **sw)
                   for j in range(spines)]
    leaves = []
    for grp in range(groups):
        for r in range(rails):
            name = f"{prefix}l{grp}r{r}" if rails > 1 else f"{prefix}l{grp}"
            leaves.append(add_switch(g, name, "leaf", "scale-out", group=grp, rail=r, **sw))
            for server in servers[grp * spg:(grp + 1) * spg]:
                add_link(g, server[r], name, tier="scale-out", rate_bps=host_rate_bps,
                         latency_ns=lat)
            for s in spine_names:
                add_link(g, name, s, tier="scale-out", rate_bps=uplinks * up_bps,
                         latency_ns=lat, links=uplinks)
    return ClosInfo(leaves, spine_names, spines * uplinks * up_bps, lat)


def clos_sides(g: nx.Graph, info: ClosInfo, a_hosts: Sequence[str]) -> list[tuple[int, int]]:
    """(A, B) host counts on every leaf of ``info`` for the bisection side ``a_hosts``."""
    a = set(a_hosts)
    sides = []
    for leaf in info.leaves:
        attached = [h for h in g[leaf] if g.nodes[h]["kind"] == "host"]
        in_a = sum(h in a for h in attached)
        sides.append((in_a, len(attached) - in_a))
    return sides


def leaf_spine(leaves: int, spines: int, hosts_per_leaf: int, host_rate_bps: float,
               switch: SwitchChip, *, uplink_rate_bps: float | None = None, uplinks: int = 1,
               cable_m: float = 10.0) -> nx.Graph:
    """Two-tier leaf-spine: every leaf linked to every spine with ``uplinks`` links.

    Hosts ``h{i}``, leaves ``l{i}``, spines ``s{j}`` (the one-rail case of
    :func:`add_clos`). Oversubscription is host bandwidth over uplink bandwidth at a
    leaf. Rejects leaves or spines that would need more ports than the radix.
    """
    require_int("leaves", leaves)
    require_int("hosts_per_leaf", hosts_per_leaf)
    g = new_graph("leaf_spine")
    hosts = [add_host(g, f"h{i}", "host", "scale-out", index=i)
             for i in range(leaves * hosts_per_leaf)]
    info = add_clos(g, [[h] for h in hosts], host_rate_bps, switch,
                    servers_per_group=hosts_per_leaf, spines=spines, uplinks=uplinks,
                    uplink_rate_bps=uplink_rate_bps, cable_m=cable_m)
    a_hosts = hosts[: (leaves // 2) * hosts_per_leaf if leaves > 1 else hosts_per_leaf // 2]
    multi = leaves > 1
    g.graph["design"] = {
        "bisection_bps": two_level_bisection_bps(clos_sides(g, info, a_hosts), host_rate_bps,
                                                 info.uplink_bps),
        "oversubscription": hosts_per_leaf * host_rate_bps / info.uplink_bps if multi else 1.0,
    }
    g.graph["bisection_a"] = a_hosts
    g.graph["representatives"] = hosts[:1]  # all leaves are alike
    g.graph["hardware"] = {"switch": switch}
    check_names(g)
    return g


def fat_tree(k: int, switch: SwitchChip, *, rate_bps: float | None = None,
             cable_m: float = 10.0) -> nx.Graph:
    """k-ary fat-tree (Al-Fares et al. 2008) of identical k-port switches.

    Hosts ``p{pod}e{edge}h{i}``, edge switches ``p{pod}e{edge}``, aggregation
    ``p{pod}a{agg}``, core ``c{i}``; core ``i`` joins aggregation switch ``i // (k/2)``
    of every pod. Full bisection: k^3/8 host links' worth; 6 hops host to host.
    """
    require_int("k", k, 2)
    require(k % 2 == 0, f"k: a fat-tree needs an even k, got {k}")
    require(k <= switch.radix, f"k: {k} ports per switch exceed the {switch.name} radix of "
            f"{switch.radix}")
    rate = switch.port_rate_bps if rate_bps is None else rate_bps
    require(rate <= switch.port_rate_bps,
            f"rate {rate:.4g} b/s exceeds the {switch.name} port rate")
    half, lat = k // 2, cable_m * FIBRE_NS_PER_M
    g = new_graph("fat_tree")
    sw = {"radix": switch.radix, "latency_ns": switch.latency_ns,
          "buffer_bytes": switch.buffer_bytes}
    link = {"tier": "scale-out", "rate_bps": rate, "latency_ns": lat}
    aggs: list[list[str]] = []
    a_hosts: list[str] = []
    for p in range(k):
        edges = [add_switch(g, f"p{p}e{e}", "edge", "scale-out", pod=p, index=e, **sw)
                 for e in range(half)]
        for e, edge in enumerate(edges):
            for h in range(half):
                host = add_host(g, f"p{p}e{e}h{h}", "host", "scale-out", pod=p, index=h)
                add_link(g, host, edge, **link)
                if p < half:
                    a_hosts.append(host)
        aggs.append([add_switch(g, f"p{p}a{a}", "agg", "scale-out", pod=p, index=a, **sw)
                     for a in range(half)])
        for edge in edges:
            for agg in aggs[p]:
                add_link(g, edge, agg, **link)
    for c in range(half * half):
        core = add_switch(g, f"c{c}", "core", "scale-out", index=c, **sw)
        for p in range(k):
            add_link(g, aggs[p][c // half], core, **link)
    g.graph["design"] = {
        "bisection_bps": k**3 / 8 * rate,
        "oversubscription": 1.0,
    }
    g.graph["bisection_a"] = a_hosts
    g.graph["representatives"] = a_hosts[:1]  # a fat-tree is host-transitive
    g.graph["hardware"] = {"switch": switch}
    check_names(g)
    return g
