"""Shortest-path next hops (pure): the static facts of the fabric and its live routes.

Routes are computed per destination host over switches only (hosts never forward),
by hop count, as the emulation plan does. Every neighbour one hop nearer to the
host is an equal-cost next hop, so following next hops strictly shortens the
distance: no loops, whichever hop ECMP picks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.addressing import host_ip, host_mac, switch_dpid
from fabrictwin.topologies.graph import hosts, switches

Link = frozenset  # frozenset({u, v}): an undirected edge of the graph
NextHops = dict[str, dict[str, frozenset[int]]]  # switch -> host -> output ports


@dataclass(frozen=True)
class Fabric:
    """Names, addresses and port numbers of a topology graph, fixed for a run."""

    switches: tuple[str, ...]
    hosts: tuple[str, ...]
    dpid: dict[str, int]
    mac: dict[str, str]
    ip: dict[str, str]
    #: switch -> ((neighbour, port on the switch), ...), switch neighbours first
    switch_links: dict[str, tuple[tuple[str, int], ...]]
    #: switch -> ((host, port on the switch), ...)
    host_links: dict[str, tuple[tuple[str, int], ...]]
    #: (switch, port) -> (peer node, link rate b/s)
    port_peer: dict[tuple[str, int], tuple[str, float]]

    @property
    def name_of(self) -> dict[int, str]:
        return {d: s for s, d in self.dpid.items()}

    def ports(self, switch: str) -> tuple[int, ...]:
        return tuple(sorted(p for _, p in self.switch_links[switch] + self.host_links[switch]))

    def link_of(self, switch: str, port: int) -> Link | None:
        peer = self.port_peer.get((switch, port))
        return None if peer is None else frozenset((switch, peer[0]))


def build_fabric(g: nx.Graph) -> Fabric:
    """The fabric of ``g``: DPIDs, MACs and IPs as the emulator assigns them."""
    sw, hs = tuple(switches(g)), tuple(hosts(g))
    if not sw:
        raise FabricTwinError("the topology has no switches to control")
    sw_set = set(sw)
    switch_links: dict[str, list[tuple[str, int]]] = {s: [] for s in sw}
    host_links: dict[str, list[tuple[str, int]]] = {s: [] for s in sw}
    port_peer: dict[tuple[str, int], tuple[str, float]] = {}
    for u, v, d in g.edges(data=True):
        for a, b in ((u, v), (v, u)):
            if a in sw_set:
                port = int(d["ports"][a])
                (switch_links if b in sw_set else host_links)[a].append((b, port))
                port_peer[(a, port)] = (b, float(d["rate_bps"]))
    return Fabric(
        switches=sw, hosts=hs,
        dpid={s: int(switch_dpid(j), 16) for j, s in enumerate(sw)},
        mac={h: host_mac(i) for i, h in enumerate(hs)},
        ip={h: host_ip(i) for i, h in enumerate(hs)},
        switch_links={s: tuple(sorted(v, key=lambda x: x[1])) for s, v in switch_links.items()},
        host_links={s: tuple(sorted(v, key=lambda x: x[1])) for s, v in host_links.items()},
        port_peer=port_peer,
    )


def next_hops(fabric: Fabric, dead: Iterable[Link] = ()) -> NextHops:
    """For every switch and every host it can reach, the ports on shortest live paths.

    ``dead`` links (and links of switches given as dead via both ends) carry nothing.
    Hosts with the same live attachment share one breadth-first search.
    """
    dead = frozenset(dead)
    live_sw = {s: [(n, p) for n, p in fabric.switch_links[s] if frozenset((s, n)) not in dead]
               for s in fabric.switches}
    attached: dict[str, list[tuple[str, int]]] = {h: [] for h in fabric.hosts}
    for s in fabric.switches:
        for h, p in fabric.host_links[s]:
            if frozenset((s, h)) not in dead:
                attached[h].append((s, p))
    by_attachment: dict[frozenset[str], list[str]] = {}
    for h, links in attached.items():
        by_attachment.setdefault(frozenset(s for s, _ in links), []).append(h)

    out: NextHops = {s: {} for s in fabric.switches}
    for roots, group in by_attachment.items():
        if not roots:
            continue  # the host has no live link: nothing reaches it
        dist = {s: 1 for s in roots}
        queue = deque(roots)
        while queue:
            s = queue.popleft()
            for n, _ in live_sw[s]:
                if n not in dist:
                    dist[n] = dist[s] + 1
                    queue.append(n)
        for s, d in dist.items():
            if d == 1:
                continue
            ports = frozenset(p for n, p in live_sw[s] if dist.get(n) == d - 1)
            for h in group:
                out[s][h] = ports
    for h, links in attached.items():
        for s, p in links:
            out[s][h] = frozenset((p,))
    return out
