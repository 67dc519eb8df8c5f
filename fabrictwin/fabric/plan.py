"""Pure planning of an emulation: addresses, dilated links, forwarding state.

From a topology graph and a dilation factor D this computes everything the
emulator will create, without touching the machine:

- every host's IP, MAC, interfaces, and per-destination routes and static ARP
  (no ARP broadcast ever crosses the fabric, so loops in it are harmless), and the
  planes towards each destination a host reaches through several equal-cost switches
  (a GPU on every chip of a hyper-node), which its agent stripes transfers over;
- every switch's DPID and OpenFlow rules: one ``dl_dst`` rule per host towards a
  shortest switch-only path, equal-cost next hops spread by a stable hash;
- every link's dilated rate (hardware rate / D) and delay (hardware latency x D),
  and whether its delay is emulated (netem, or a userspace delay line) or falls
  below the emulator's own per-hop latency and is left out.
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass, field

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.addressing import host_ip, host_mac, switch_dpid
from fabrictwin.linux.names import IFNAMSIZ
from fabrictwin.topologies.graph import hosts, intf_name, switches

#: Without netem, dilated delays below this are not emulated: they are within a few
#: hops through the userspace switch (whose latency calibration measures) and a
#: userspace delay line would add more error than delay.
MIN_EMULATED_DELAY_NS = 1_000_000.0
DEFAULT_MTU = 1500


@dataclass(frozen=True)
class LinkPlan:
    u: str
    v: str
    intf_u: str
    intf_v: str
    port_u: int
    port_v: int
    tier: str
    hw_rate_bps: float
    hw_latency_ns: float
    rate_bps: float  # dilated
    delay_ns: float  # dilated; 0 when not emulated
    delay_line: str = ""  # name stem of the userspace delay line's veths, if any


@dataclass(frozen=True)
class HostPlan:
    name: str
    ip: str
    mac: str
    intfs: tuple[str, ...]
    #: (destination IP, destination MAC, outgoing interface)
    routes: tuple[tuple[str, str, str], ...]
    #: (destination IP, ((interface, the destination's interface on that switch or "",
    #: dilated rate), ...)) for destinations reached through more than one switch
    planes: tuple[tuple[str, tuple[tuple[str, str, float], ...]], ...] = ()


@dataclass(frozen=True)
class SwitchPlan:
    name: str
    dpid: str
    ports: tuple[tuple[int, str], ...]  # (OpenFlow port, interface)
    flows: tuple[str, ...]  # ovs-ofctl flow syntax
    bridge: str = ""  # its OVS bridge: the name with the run's prefix

    def __post_init__(self) -> None:
        if not self.bridge:
            object.__setattr__(self, "bridge", self.name)


@dataclass(frozen=True)
class EmulationPlan:
    spec: str
    dilation: float
    mtu: int
    hosts: tuple[HostPlan, ...]
    switches: tuple[SwitchPlan, ...]
    links: tuple[LinkPlan, ...]
    notes: tuple[str, ...] = field(default=())
    #: how D was chosen from the run's routed load (fabric.load), when it was
    dilation_choice: dict[str, object] | None = None
    #: before every name the run makes in the root name space (fabric.state.run_prefix)
    prefix: str = ""

    @property
    def delayed_links(self) -> tuple[LinkPlan, ...]:
        return tuple(link for link in self.links if link.delay_ns > 0)


def choose_dilation(g: nx.Graph, machine_rate_bps: float, *, all_links: bool = False) -> float:
    """The smallest D >= 1 that brings the busiest link down to ``machine_rate_bps``.

    With ``all_links`` the sum of every link's rate is brought down to it instead:
    a collective loads all links at once and the machine forwards them all.
    """
    if not machine_rate_bps > 0:
        raise FabricTwinError(f"machine forwarding rate must be positive, got {machine_rate_bps}")
    rates = [r for _, _, r in g.edges(data="rate_bps")]
    load = sum(rates) if all_links else max(rates, default=0.0)
    return max(1.0, load / machine_rate_bps)


def _distances_to(g: nx.Graph, host: str, sw: set[str]) -> dict[str, int]:
    """Switch-only hop distance from every switch to ``host`` (1 = attached)."""
    dist = {s: 1 for s in g[host] if s in sw}
    queue = deque(dist)
    while queue:
        s = queue.popleft()
        for n in g[s]:
            if n in sw and n not in dist:
                dist[n] = dist[s] + 1
                queue.append(n)
    return dist


def _pick(options: list[str], *key: str) -> str:
    """A stable choice among equal-cost options, spread by hashing ``key``."""
    options = sorted(options)
    return options[zlib.crc32("/".join(key).encode()) % len(options)]


def _port(g: nx.Graph, node: str, peer: str) -> int:
    return int(g.edges[node, peer]["ports"][node])


def plan_emulation(g: nx.Graph, dilation: float, *, netem: bool = False,
                   min_delay_ns: float = MIN_EMULATED_DELAY_NS,
                   mtu: int | None = None, prefix: str = "") -> EmulationPlan:
    """Everything the emulator creates for ``g`` at dilation ``dilation``.

    With ``netem`` every delay at or above 1 us is emulated by the kernel; without
    it only delays of at least ``min_delay_ns`` get a userspace delay line. ``prefix``
    goes before the names made in the root name space (bridges, switch ports, delay
    lines), so runs at once do not clash; host interfaces live in their hosts' own
    name spaces and keep their names.

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("leaf_spine,leaves=1,spines=0,hosts_per_leaf=2")
    >>> [(s.bridge, s.ports) for s in plan_emulation(g, 1.0, prefix="R1").switches]
    [('R1l0', ((1, 'R1l0-eth1'), (2, 'R1l0-eth2')))]
    """
    if not dilation > 0:
        raise FabricTwinError(f"dilation must be positive, got {dilation}")
    host_list, sw = hosts(g), set(switches(g))
    if not host_list:
        raise FabricTwinError("the topology has no hosts to emulate")
    for node, ports in g.nodes(data="ports"):
        made = prefix if node in sw else ""
        if len(made + intf_name(node, max(ports, 1))) > IFNAMSIZ:
            raise FabricTwinError(
                f"node name {node!r} too long for its interface names"
                + (f" with this run's prefix {prefix!r} (another run is going)" if made else ""))

    def root_intf(node: str, port: int) -> str:  # a switch's port, in the root name space
        return f"{prefix if node in sw else ''}{intf_name(node, port)}"

    ip = {h: host_ip(i) for i, h in enumerate(host_list)}
    mac = {h: host_mac(i) for i, h in enumerate(host_list)}
    dist = {h: _distances_to(g, h, sw) for h in host_list}

    switch_plans = []
    for j, s in enumerate(switches(g)):
        flows = []
        for h in host_list:
            if h in g[s]:
                out = _port(g, s, h)
            elif s in dist[h]:
                nearer = [n for n in g[s] if n in sw and dist[h].get(n) == dist[h][s] - 1]
                out = _port(g, s, _pick(nearer, s, h))
            else:
                continue  # h unreachable from s: no rule, frames to it are dropped
            flows.append(f"priority=100,dl_dst={mac[h]},actions=output:{out}")
        ports = tuple(sorted((_port(g, s, n), root_intf(s, _port(g, s, n))) for n in g[s]))
        switch_plans.append(SwitchPlan(s, switch_dpid(j), ports, tuple(flows), prefix + s))

    host_plans = []
    for h in host_list:
        attached = {s: intf_name(h, _port(g, h, s)) for s in g[h] if s in sw}
        routes, planes = [], []
        for d in host_list:
            if d == h:
                continue
            best = min((dist[d].get(s, 1 << 30) for s in attached), default=1 << 30)
            if best >= 1 << 30:
                continue
            vias = sorted(s for s in attached if dist[d].get(s) == best)
            routes.append((ip[d], mac[d], attached[_pick(vias, h, d)]))
            if len(vias) > 1:
                planes.append((ip[d], tuple(
                    (attached[s], intf_name(d, _port(g, d, s)) if d in g[s] else "",
                     g.edges[h, s]["rate_bps"] / dilation) for s in vias)))
        intfs = tuple(intf_name(h, p) for p in sorted(_port(g, h, s) for s in g[h]))
        host_plans.append(HostPlan(h, ip[h], mac[h], intfs, tuple(routes), tuple(planes)))

    floor = 1_000.0 if netem else min_delay_ns
    links, notes, skipped = [], [], 0
    for u, v, d in g.edges(data=True):
        delay = d["latency_ns"] * dilation
        delayed = delay >= floor
        skipped += not delayed and delay > 0
        line = "" if netem or not delayed else \
            f"{prefix}ftd{sum(bool(x.delay_line) for x in links)}"
        links.append(LinkPlan(u, v, root_intf(u, d["ports"][u]), root_intf(v, d["ports"][v]),
                              d["ports"][u], d["ports"][v], d["tier"], d["rate_bps"],
                              d["latency_ns"], d["rate_bps"] / dilation,
                              delay if delayed else 0.0, line))
    if skipped:
        notes.append(f"{skipped} links have dilated delays under {floor / 1000:g} us; "
                     "their latency is the emulator's own per-hop latency")
    return EmulationPlan(g.graph.get("spec", ""), float(dilation),
                         int(mtu or DEFAULT_MTU), tuple(host_plans), tuple(switch_plans),
                         tuple(links), tuple(notes), prefix=prefix)


def frame_path(plan: EmulationPlan, intf: str, dst_host: str, max_hops: int = 64) -> list[str]:
    """The interfaces a frame sent on host interface ``intf`` to ``dst_host`` crosses,
    by the plan's static switch tables: [``intf``, switch ingress, switch egress, ...,
    the destination's interface]. A switch with no rule for it ends the list with
    ``"<switch>: no rule"``.
    """
    macs = {h.name: h.mac for h in plan.hosts}
    if dst_host not in macs:
        raise FabricTwinError(f"{dst_host!r} is not a host of the plan")
    far: dict[str, tuple[str, str]] = {}  # interface -> (the node at the far end, its intf)
    for link in plan.links:
        far[link.intf_u] = (link.v, link.intf_v)
        far[link.intf_v] = (link.u, link.intf_u)
    tables = {s.name: (dict(s.ports), s.flows) for s in plan.switches}
    rule = f"dl_dst={macs[dst_host]},actions=output:"
    path, here = [intf], intf
    for _ in range(max_hops):
        if here not in far:
            raise FabricTwinError(f"interface {here!r} is on no link of the plan")
        node, ingress = far[here]
        path.append(ingress)
        if node not in tables:  # a host: the frame has arrived (somewhere)
            return path
        ports, flows = tables[node]
        out = next((f.split(rule, 1)[1] for f in flows if rule in f), None)
        if out is None or int(out) not in ports:
            return [*path, f"{node}: no rule"]
        here = ports[int(out)]
        path.append(here)
    raise FabricTwinError(f"no path from {intf} to {dst_host} within {max_hops} hops")
