"""The controller's policy core (pure): topology, link state and telemetry in,
OpenFlow messages and logged decisions out.

It never imports os_ken, reads no clock and does no I/O: every event method takes the
time and returns a :class:`~fabrictwin.controllers.messages.Step`. The os-ken shim
(:mod:`fabrictwin.controllers.app`) feeds it switch events and telemetry and sends what
it returns; the unit tests feed it the same events and check the tables it builds.

Switches are taken to be up from the start (the designed topology); a switch is down
only after its connection has dropped, and a link is down when either end reports
its port down. Every change of link state recomputes all routes and sends each switch
only the difference (see :mod:`fabrictwin.controllers.tables`).
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from fabrictwin.controllers.adaptive import congested, group_weights, worth_changing
from fabrictwin.controllers.arp import arp_reply
from fabrictwin.controllers.classes import classify_flows, meter_mods, port_queues
from fabrictwin.controllers.ecn import RedProfile, red_probability, to_permille
from fabrictwin.controllers.messages import (
    OFPG_ALL,
    OFPM_ALL,
    OFPTT_ALL,
    Barrier,
    Decision,
    FlowMod,
    GroupMod,
    Message,
    MeterMod,
    PacketOut,
    Step,
)
from fabrictwin.controllers.policy import Policy
from fabrictwin.controllers.routing import Fabric, Link, build_fabric, next_hops
from fabrictwin.controllers.tables import SwitchTable, fresh_table
from fabrictwin.controllers.telemetry import PortCounter, QueueSample, utilization
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.classes import QueueSpec

Port = tuple[str, int]  # (switch name, OpenFlow port)
#: A port's utilisation is logged again when it has moved by this much.
UTIL_LOG_STEP = 0.05


class PolicyCore:
    """Routing, ECMP, ECN and adaptive decisions for one fabric under one policy."""

    def __init__(self, g: nx.Graph, policy: Policy | None = None, *,
                 dilation: float = 1.0) -> None:
        if not dilation > 0:
            raise FabricTwinError(f"dilation must be positive, got {dilation}")
        self.fabric: Fabric = build_fabric(g)
        self.policy = policy or Policy()
        self.dilation = float(dilation)
        self.spec = str(g.graph.get("spec", ""))
        self._name_of = self.fabric.name_of
        self._mac_of_ip = {self.fabric.ip[h]: self.fabric.mac[h] for h in self.fabric.hosts}
        self._red = self.policy.ecn.red()
        self.down_ports: set[Port] = set()
        self.down_switches: set[str] = set()
        self.counters: dict[Port, PortCounter] = {}
        self.util: dict[Port, float] = {}
        self._logged_util: dict[Port, float] = {}
        self.backlog: dict[Port, int] = {}
        self._last_reweigh: dict[tuple[str, int], float] = {}
        self._last_busy: dict[str, int] = {}
        nh = next_hops(self.fabric)
        self.tables: dict[str, SwitchTable] = {
            s: fresh_table(s, self.fabric.dpid[s], self.fabric.ports(s), self.fabric.mac, nh[s])
            for s in self.fabric.switches}

    # -- lookups ---------------------------------------------------------------------------
    def switch_of(self, dpid: int) -> str | None:
        """The switch of ``dpid``, or ``None`` for a datapath not in this topology."""
        return self._name_of.get(dpid)

    def queues(self) -> tuple[QueueSpec, ...]:
        """The queues the emulator should configure on every switch port."""
        return port_queues(self.policy)

    def red_profile(self, port: Port) -> RedProfile:
        """The ECN profile of a switch egress port, scaled to its link's rate."""
        return self._red.scaled(self.fabric.port_peer[port][1])

    def _known(self, port: Port) -> bool:
        return port in self.fabric.port_peer

    # -- switches and links ----------------------------------------------------------------
    def switch_up(self, dpid: int, time_s: float) -> Step:
        """A switch connected: wipe it and install its full state (others: any reroute)."""
        s = self.switch_of(dpid)
        if s is None:
            return Step()
        step = Step()
        if s in self.down_switches:
            self.down_switches.discard(s)
            self.down_ports -= {p for p in self.down_ports if p[0] == s}
            step = self._reroute(time_s, {"cause": "switch_up", "switch": s})
            step = Step(tuple(m for m in step.messages if m.dpid != dpid), step.decisions)
        old = self.tables[s]
        table = fresh_table(s, dpid, old.ports, self.fabric.mac, old.nexthops)
        table.marks = dict(old.marks)
        self.tables[s] = table
        msgs: list[Message] = [FlowMod(dpid, "delete", OFPTT_ALL),
                               GroupMod(dpid, "delete", OFPG_ALL)]
        if self.policy.rate_limits_bps:
            msgs.append(MeterMod(dpid, "delete", OFPM_ALL))
        msgs.append(Barrier(dpid))
        msgs += meter_mods(dpid, self.policy, self.dilation)
        msgs += classify_flows(dpid, self.policy)
        msgs += table.install()
        msgs.append(Barrier(dpid))
        decision = Decision(time_s, "switch_up", {
            "switch": s, "dpid": dpid, "routes": len(table.refs),
            "ecmp_groups": len(table.groups), "messages": len(msgs)})
        return step + Step(tuple(msgs), (decision,))

    def switch_down(self, dpid: int, time_s: float) -> Step:
        """A switch's connection dropped: route around all its links."""
        s = self.switch_of(dpid)
        if s is None or s in self.down_switches:
            return Step()
        self.down_switches.add(s)
        return self._reroute(time_s, {"cause": "switch_down", "switch": s})

    def port_status(self, dpid: int, port: int, up: bool, time_s: float) -> Step:
        """A port went up or down (OpenFlow port-status); reroute if a link changed."""
        return self.port_snapshot(dpid, {port: up}, time_s)

    def port_snapshot(self, dpid: int, states: Mapping[int, bool], time_s: float) -> Step:
        """Several ports' states at once (a port-description reply): one reroute."""
        s = self.switch_of(dpid)
        if s is None:
            return Step()
        dead_before = self.dead_links()
        went_down, came_up = [], []
        for port, up in sorted(states.items()):
            key = (s, port)
            if not self._known(key):
                continue  # LOCAL or a port the topology does not have
            if not up and key not in self.down_ports:
                self.down_ports.add(key)
                went_down.append(port)
            elif up and key in self.down_ports:
                self.down_ports.discard(key)
                came_up.append(port)
        if self.dead_links() == dead_before:
            return Step()  # e.g. the second end of a link already down
        return self._reroute(time_s, {"cause": "port_status", "switch": s,
                                      "down": went_down, "up": came_up})

    def dead_links(self) -> set[Link]:
        dead: set[Link] = set()
        for s, p in self.down_ports:
            link = self.fabric.link_of(s, p)
            if link is not None:
                dead.add(link)
        for s in self.down_switches:
            dead |= {frozenset((s, n)) for n, _ in
                     self.fabric.switch_links[s] + self.fabric.host_links[s]}
        return dead

    def _reroute(self, time_s: float, cause: dict) -> Step:
        dead = self.dead_links()
        nh = next_hops(self.fabric, dead)
        msgs: list[Message] = []
        switches_changed = hosts_changed = 0
        for s in self.fabric.switches:
            m, n = self.tables[s].update(nh[s])
            msgs += m
            switches_changed += bool(n)
            hosts_changed += n
        unreachable = sorted(h for h in self.fabric.hosts
                             if not any(h in nh[s] for s in self.fabric.switches))
        decision = Decision(time_s, "reroute", {
            **cause, "dead_links": sorted(sorted(link) for link in dead),
            "switches_changed": switches_changed, "routes_changed": hosts_changed,
            "messages": sum(not isinstance(m, Barrier) for m in msgs),
            "unreachable_hosts": unreachable})
        return Step(tuple(msgs), (decision,))

    # -- telemetry -------------------------------------------------------------------------
    def port_stats(self, dpid: int, tx_bytes: Mapping[int, int], time_s: float) -> Step:
        """Transmit counters of a switch's ports; adaptive mode may re-weight its groups."""
        s = self.switch_of(dpid)
        if s is None:
            return Step()
        for port, count in tx_bytes.items():
            key = (s, port)
            if not self._known(key):
                continue
            cur, prev = PortCounter(int(count), time_s), self.counters.get(key)
            self.counters[key] = cur
            if prev is not None:
                u = utilization(prev, cur, self.fabric.port_peer[key][1] / self.dilation)
                if u is not None:
                    self.util[key] = u
        step = self._log_util(s, time_s)
        if self.policy.routing != "adaptive":
            return step
        return step + self._adapt(s, time_s)

    def _log_util(self, s: str, time_s: float) -> Step:
        """A ``util`` decision for the ports whose utilisation moved by UTIL_LOG_STEP."""
        moved = {}
        for p in self.tables[s].ports:
            u = self.util.get((s, p))
            if u is not None and abs(u - self._logged_util.get((s, p), 0.0)) >= UTIL_LOG_STEP:
                moved[str(p)] = round(u, 4)
                self._logged_util[(s, p)] = u
        if not moved:
            return Step()
        return Step((), (Decision(time_s, "util", {"switch": s, "util": moved}),))

    def _adapt(self, s: str, time_s: float) -> Step:
        table, cfg = self.tables[s], self.policy.adaptive
        util = {p: self.util.get((s, p), 0.0) for p in table.ports}
        hot = {p: congested(util[p], self.backlog.get((s, p), 0),
                            self.red_profile((s, p)).kmin_bytes, cfg) for p in table.ports}
        msgs: list[Message] = []
        decisions = []
        for gid, ports in sorted(table.groups.items()):
            new = group_weights(ports, util, hot, cfg)
            if new == table.weights[gid] or not worth_changing(
                    table.weights[gid], new, self._last_reweigh.get((s, gid)), time_s, cfg):
                continue
            msgs += table.reweigh(gid, new)
            self._last_reweigh[(s, gid)] = time_s
            decisions.append(Decision(time_s, "adaptive", {
                "switch": s, "group": gid, "weights": {str(p): w for p, w in new.items()},
                "util": {str(p): round(util[p], 4) for p in sorted(ports)}}))
        return Step(tuple(msgs), tuple(decisions))

    def queue_sample(self, sample: QueueSample) -> Step:
        """Queue backlog of every port: set each egress port's ECN marking share."""
        self.backlog = {k: int(v) for k, v in sample.backlog_bytes.items() if self._known(k)}
        decisions = []
        busy = {f"{s}-eth{p}": b for (s, p), b in sorted(self.backlog.items()) if b > 0}
        if busy != self._last_busy:  # changes only: the backlog holds until the next line
            decisions.append(Decision(sample.time_s, "queues", {"backlog_bytes": busy}))
        self._last_busy = busy
        if not self.policy.ecn.enabled:
            return Step((), tuple(decisions))
        msgs: list[Message] = []
        for s in self.fabric.switches:
            table = self.tables[s]
            for p in table.ports:
                b = self.backlog.get((s, p), 0)
                if b == 0 and table.marks.get(p, 0) == 0:
                    continue
                red = self.red_profile((s, p))
                prob = red_probability(b, red)
                permille = to_permille(prob)
                if permille == table.marks.get(p, 0):
                    continue
                table.marks[p] = permille
                msgs.append(table.egress_mod(p))
                decisions.append(Decision(sample.time_s, "ecn", {
                    "switch": s, "port": p, "backlog_bytes": b,
                    "kmin_bytes": round(red.kmin_bytes), "kmax_bytes": round(red.kmax_bytes),
                    "p": round(prob, 6), "permille": permille}))
        return Step(tuple(msgs), tuple(decisions))

    # -- packets to the controller ---------------------------------------------------------
    def packet_in(self, dpid: int, in_port: int, data: bytes, time_s: float) -> Step:
        """Answer an ARP request for a fabric host out of the port it came in on."""
        if self.policy.arp != "controller" or self.switch_of(dpid) is None:
            return Step()
        reply = arp_reply(data, self._mac_of_ip)
        if reply is None:
            return Step()
        return Step((PacketOut(dpid, in_port, reply),), (Decision(time_s, "arp_reply", {
            "switch": self.switch_of(dpid), "port": in_port,
            "target_mac": reply[6:12].hex(":")}),))
