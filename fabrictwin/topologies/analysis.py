"""Topology checks: counts, bandwidth, bisection, diameter, latency, radix, reachability.

Paths never pass through a host (emulated GPUs do not forward), so a GPU pair's
distance is the shortest switch-only path. Diameter and worst-case latency are
the maxima over GPU pairs of those shortest paths, taken from the builder's
``representatives`` (hosts covering every symmetry class of the design; the
tests check them against all hosts) or, with ``exact``, from every host.
The bisection is the builder's closed form; on graphs up to
``MAXFLOW_NODES`` nodes it is also computed as a max flow and compared.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

import networkx as nx

from fabrictwin.topologies.graph import TIERS, hosts, switches

MAXFLOW_NODES = 1500


def max_flow_bisection_bps(g: nx.Graph, a_hosts: list[str] | None = None) -> float:
    """Max flow from side A's hosts to all other hosts, link capacity ``rate_bps`` each way."""
    a = set(g.graph["bisection_a"] if a_hosts is None else a_hosts)
    d = nx.DiGraph()
    for u, v, rate in g.edges(data="rate_bps"):
        d.add_edge(u, v, capacity=rate)
        d.add_edge(v, u, capacity=rate)
    for h in hosts(g):  # edges without "capacity" are unbounded in networkx
        if h in a:
            d.add_edge("__src__", h)
        else:
            d.add_edge(h, "__dst__")
    if not a or len(a) == len(hosts(g)):
        return 0.0
    return float(nx.maximum_flow_value(d, "__src__", "__dst__"))


def _eccentricity(g: nx.Graph, src: str, latency: bool) -> float:
    """Longest shortest switch-only path from ``src`` to any other host."""
    nodes = g.nodes

    def weight(u: str, v: str, data: dict[str, Any]) -> float | None:
        if u != src and nodes[u]["kind"] == "host":
            return None  # hosts do not forward
        if not latency:
            return 1
        return data["latency_ns"] + (nodes[v]["latency_ns"] if nodes[v]["kind"] == "switch"
                                     else 0.0)

    dist = nx.single_source_dijkstra_path_length(g, src, weight=weight)
    far = [dist.get(h, math.inf) for h in hosts(g) if h != src]
    return max(far, default=0.0)


def path_extremes(g: nx.Graph, exact: bool = False) -> tuple[float, float]:
    """(diameter in hops, worst-case latency in ns) over host pairs."""
    sources = hosts(g) if exact else g.graph.get("representatives") or hosts(g)
    hops = max((_eccentricity(g, s, False) for s in sources), default=0.0)
    lat = max((_eccentricity(g, s, True) for s in sources), default=0.0)
    return hops, lat


def all_hosts_reachable(g: nx.Graph) -> bool:
    """Every host pair shares a connected component of the switch-only graph."""
    sw = g.subgraph(switches(g))
    comp = {n: i for i, c in enumerate(nx.connected_components(sw)) for n in c}
    attach = {frozenset(comp[n] for n in g[h] if n in comp) for h in hosts(g)}
    if len(hosts(g)) < 2:
        return True
    if frozenset() in attach:
        return False
    return all(a & b for a, b in combinations(attach, 2))


def check(g: nx.Graph, exact: bool = False) -> dict[str, Any]:
    """All figures and checks of ``g`` as a JSON-ready dict; ``ok`` is their conjunction."""
    host_list, switch_list = hosts(g), switches(g)
    design = g.graph.get("design", {})
    roles = Counter(r for _, r in g.nodes(data="role"))
    tier_bps: dict[str, float] = defaultdict(float)
    for _, _, d in g.edges(data=True):
        tier_bps[d["tier"]] += d["rate_bps"]
    over_radix = [n for n in switch_list if g.nodes[n]["ports"] > g.nodes[n]["radix"]]
    hops, worst_ns = path_extremes(g, exact)
    reachable = all_hosts_reachable(g)
    checks = {
        "reachable": {"ok": reachable, "detail": "all host pairs reachable" if reachable
                      else "some host pairs cannot reach each other"},
        "radix": {"ok": not over_radix, "detail": "ports within radix on every switch"
                  if not over_radix else f"over radix: {', '.join(over_radix[:5])}"},
    }
    bisection = float(design.get("bisection_bps", 0.0))
    report: dict[str, Any] = {
        "spec": g.graph.get("spec", g.graph.get("builder")),
        "hosts": len(host_list),
        "switches": len(switch_list),
        "links": g.number_of_edges(),
        "physical_links": sum(n for _, _, n in g.edges(data="links")),
        "roles": dict(sorted(roles.items())),
        "tier_bandwidth_bps": {t: tier_bps[t] for t in TIERS if t in tier_bps},
        "bisection_bps": bisection,
        "oversubscription": float(design.get("oversubscription", 1.0)),
        "diameter_hops": int(hops) if math.isfinite(hops) else None,
        "worst_latency_ns": worst_ns if math.isfinite(worst_ns) else None,
        "max_port_use": max((g.nodes[n]["ports"] / g.nodes[n]["radix"] for n in switch_list),
                            default=0.0),
    }
    if exact or g.number_of_nodes() <= MAXFLOW_NODES:
        flow = max_flow_bisection_bps(g)
        same = math.isclose(flow, bisection, rel_tol=1e-9, abs_tol=1e-3)
        report["bisection_maxflow_bps"] = flow
        checks["bisection"] = {"ok": same, "detail": "closed form matches max flow" if same
                               else f"closed form {bisection:.6g} != max flow {flow:.6g}"}
    report["checks"] = checks
    report["ok"] = all(c["ok"] for c in checks.values())
    return report
