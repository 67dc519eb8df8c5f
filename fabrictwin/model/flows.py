"""Flow-level congestion: max-min fair rates of flows routed by ECMP over a topology graph.

Where packets are too many to emulate, a flow model still shows oversubscription,
incast and ECMP collisions. Each flow takes one shortest path (hop count), chosen at
every switch among the equal-cost next hops by a hash of the flow and the switch, as
ECMP hashes a packet's 5-tuple. Rates are then max-min fair (progressive filling,
Bertsekas & Gallager, "Data Networks", 6.5.2): all flows grow together; a link that
fills freezes the flows through it; the rest keep growing.

Links are directed: an undirected edge of the graph (``rate_bps`` per direction, see
:mod:`fabrictwin.topologies.graph`) is two links of that capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from fabrictwin.errors import FabricTwinError

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class LinkIndex:
    """Directed links of a graph: ``links[i] = (u, v)``, capacity ``capacity_bps[i]``."""

    nodes: list[str]
    links: list[tuple[str, str]]
    capacity_bps: np.ndarray
    index: dict[tuple[str, str], int]


@dataclass(frozen=True)
class Allocation:
    """Max-min fair rates, the paths and the per-link load."""

    rate_bps: np.ndarray          # per flow
    paths: list[list[str]]        # nodes of each flow's path
    flow_links: list[np.ndarray]  # link indices of each flow's path
    load_bps: np.ndarray          # per directed link
    bottleneck: np.ndarray        # per flow: link index that froze it (-1: its demand did)
    links: LinkIndex

    def utilisation(self) -> np.ndarray:
        return self.load_bps / self.links.capacity_bps


def link_index(g: nx.Graph) -> LinkIndex:
    """Both directions of every edge, with the edge's ``rate_bps`` as capacity."""
    links: list[tuple[str, str]] = []
    caps: list[float] = []
    for u, v, rate in g.edges(data="rate_bps"):
        if rate is None or not rate > 0:
            raise FabricTwinError(f"link {u} - {v}: needs a positive rate_bps")
        links += [(u, v), (v, u)]
        caps += [float(rate), float(rate)]
    return LinkIndex(list(g.nodes), links, np.array(caps), {lk: i for i, lk in enumerate(links)})


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fixed, platform-independent hash (Python's hash() is salted)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _csr(adj: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(len(adj) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(a) for a in adj])
    indices = np.fromiter((v for a in adj for v in a), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def _bfs_levels(indptr: np.ndarray, indices: np.ndarray, root: int) -> np.ndarray:
    """Hop distance of every node from ``root`` (-1: unreachable), one numpy pass per level."""
    dist = np.full(len(indptr) - 1, -1, dtype=np.int64)
    dist[root] = 0
    frontier = np.array([root], dtype=np.int64)
    level = 0
    while frontier.size:
        level += 1
        starts, lens = indptr[frontier], indptr[frontier + 1] - indptr[frontier]
        # all neighbours of the frontier: each slice of ``indices`` laid end to end
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        nbrs = np.unique(indices[offsets])
        frontier = nbrs[dist[nbrs] < 0]
        dist[frontier] = level
    return dist


def ecmp_paths(g: nx.Graph, pairs: Sequence[tuple[str, str]], seed: int = 0,
               flow_ids: Sequence[int] | None = None) -> list[list[str]]:
    """One shortest path per (src, dst), ECMP-hashed per flow and per switch.

    ``flow_ids`` stand for the flows' 5-tuples (default: their position), so two flows
    between the same hosts may take different paths, as two connections do.
    """
    nodes = list(g.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    adj = [[pos[v] for v in g[n]] for n in nodes]
    indptr, indices = _csr(adj)
    dist_cache: dict[int, list[int]] = {}
    ids = range(len(pairs)) if flow_ids is None else flow_ids
    paths = []
    for fid, (src, dst) in zip(ids, pairs, strict=True):
        if src not in pos or dst not in pos:
            raise FabricTwinError(f"flow {src} -> {dst}: no such node")
        s, d = pos[src], pos[dst]
        if s == d:
            raise FabricTwinError(f"flow {src} -> {dst}: source and destination are the same")
        # a host hangs off one switch: its distances are that switch's plus one, and
        # every host on the switch shares one BFS
        root, extra = (adj[d][0], 1) if len(adj[d]) == 1 and adj[d][0] != s else (d, 0)
        dist = dist_cache.get(root)
        if dist is None:
            dist = dist_cache[root] = _bfs_levels(indptr, indices, root).tolist()
        if dist[s] < 0:
            raise FabricTwinError(f"flow {src} -> {dst}: unreachable")
        key = _mix((seed << 40) ^ (fid << 20) ^ (s * 1_000_003 + d))
        path, u = [s], s
        while u != d:
            here = dist[u] + extra
            nxt = [v for v in adj[u] if (0 if v == d else dist[v] + extra) == here - 1]
            u = nxt[0] if len(nxt) == 1 else nxt[_mix(key ^ (u * 0x100000001B3)) % len(nxt)]
            path.append(u)
        paths.append([nodes[i] for i in path])
    return paths


def max_min_fair(flow_links: Sequence[np.ndarray], capacity_bps: np.ndarray,
                 demand_bps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Max-min fair rates of flows over links (progressive filling), vectorised.

    ``flow_links[f]`` lists the links flow ``f`` crosses; ``demand_bps`` caps a flow
    (inf: as fast as the network allows). Returns the rates and, per flow, the link
    that froze it (-1 when its demand did). A flow crossing no link gets its demand.
    """
    n_flows = len(flow_links)
    caps = np.asarray(capacity_bps, dtype=float)
    demand = (np.full(n_flows, np.inf) if demand_bps is None
              else np.asarray(demand_bps, dtype=float).copy())
    if demand.shape != (n_flows,) or np.any(demand < 0):
        raise FabricTwinError("demand_bps: one non-negative demand per flow")
    counts = np.array([len(fl) for fl in flow_links], dtype=np.int64)
    flow_of = np.repeat(np.arange(n_flows), counts)
    link_of = (np.concatenate([np.asarray(fl, dtype=np.int64) for fl in flow_links])
               if n_flows else np.zeros(0, dtype=np.int64))
    rate = np.zeros(n_flows)
    bottleneck = np.full(n_flows, -1, dtype=np.int64)
    active = np.ones(n_flows, dtype=bool)
    if np.any(np.isinf(demand) & (counts == 0)):
        raise FabricTwinError("a flow that crosses no link needs a finite demand")
    remaining = caps.copy()
    while active.any():
        on = active[flow_of]
        users = np.bincount(link_of[on], minlength=len(caps))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(users > 0, remaining / users, np.inf)
        step = min(share.min(initial=np.inf), (demand - rate)[active].min())
        step = max(step, 0.0)
        rate[active] += step
        remaining -= step * users
        # a link is full when what is left is within rounding of its capacity
        full = (users > 0) & (remaining <= 1e-9 * caps)
        frozen_by_link = np.zeros(n_flows, dtype=bool)
        hits = on & full[link_of]
        frozen_by_link[flow_of[hits]] = True
        first_full = np.full(n_flows, -1, dtype=np.int64)
        # record one saturated link per newly frozen flow
        first_full[flow_of[hits][::-1]] = link_of[hits][::-1]
        done = active & (frozen_by_link | (rate >= demand * (1 - 1e-12)))
        bottleneck[done & frozen_by_link] = first_full[done & frozen_by_link]
        if not done.any():  # cannot happen: the step always fills a link or a demand
            raise AssertionError("progressive filling made no progress")
        active &= ~done
    return rate, bottleneck


def allocate(g: nx.Graph, pairs: Sequence[tuple[str, str]], *,
             demand_bps: Sequence[float] | np.ndarray | None = None, seed: int = 0,
             flow_ids: Sequence[int] | None = None) -> Allocation:
    """Route ``pairs`` by ECMP over ``g`` and give them max-min fair rates."""
    links = link_index(g)
    paths = ecmp_paths(g, pairs, seed=seed, flow_ids=flow_ids)
    flow_links = [np.array([links.index[(a, b)] for a, b in zip(p, p[1:], strict=False)],
                           dtype=np.int64) for p in paths]
    demand = None if demand_bps is None else np.asarray(demand_bps, dtype=float)
    rate, bottleneck = max_min_fair(flow_links, links.capacity_bps, demand)
    load = np.zeros(len(links.links))
    for fl, r in zip(flow_links, rate, strict=True):
        load[fl] += r
    return Allocation(rate, paths, flow_links, load, bottleneck, links)
