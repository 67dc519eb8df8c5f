"""A fake OpenFlow datapath for the controller's unit tests, and a packet walker.

``FakeSwitch`` records the flow-mods, group-mods and meter-mods the policy core sends
and keeps the tables they build, enforcing what Open vSwitch would reject (a rule or
bucket naming a group that does not exist, adding a group twice) and what it would
silently do wrong (deleting a group that rules still use deletes those rules).
``walk`` follows a packet through the fake tables hop by hop over the topology,
trying every bucket of every select group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabrictwin.controllers.messages import (
    OFPG_ALL,
    OFPM_ALL,
    OFPP_CONTROLLER,
    OFPTT_ALL,
    Action,
    Barrier,
    FlowMod,
    GroupAction,
    GroupMod,
    Message,
    MeterMod,
    Output,
    PacketOut,
    SetField,
    SetQueue,
    Step,
)
from fabrictwin.controllers.routing import Fabric


@dataclass
class FakeSwitch:
    dpid: int
    flows: dict[tuple, FlowMod] = field(default_factory=dict)  # (table, prio, match)
    groups: dict[int, GroupMod] = field(default_factory=dict)
    meters: dict[int, MeterMod] = field(default_factory=dict)
    log: list[Message] = field(default_factory=list)

    def _check_actions(self, actions: tuple[Action, ...]) -> None:
        for a in actions:
            if isinstance(a, GroupAction):
                assert a.group_id in self.groups, f"dpid {self.dpid}: no group {a.group_id:#x}"

    def apply(self, msg: Message) -> None:
        assert msg.dpid == self.dpid
        self.log.append(msg)
        if isinstance(msg, FlowMod):
            if msg.command == "delete":
                assert msg.table_id == OFPTT_ALL and not msg.match
                self.flows.clear()
            elif msg.command == "delete_strict":
                self.flows.pop((msg.table_id, msg.priority, msg.match), None)
            else:
                assert msg.command == "add", msg
                self._check_actions(msg.actions)
                if msg.meter_id is not None:
                    assert msg.meter_id in self.meters
                self.flows[(msg.table_id, msg.priority, msg.match)] = msg
        elif isinstance(msg, GroupMod):
            if msg.command == "delete":
                if msg.group_id == OFPG_ALL:
                    self.groups.clear()
                    return
                users = [f for f in self.flows.values()
                         if GroupAction(msg.group_id) in f.actions]
                assert not users, f"dpid {self.dpid}: group {msg.group_id:#x} deleted in use"
                self.groups.pop(msg.group_id, None)
                return
            for b in msg.buckets:
                self._check_actions(b.actions)
            exists = msg.group_id in self.groups
            assert exists == (msg.command == "modify"), f"{msg.command} group {msg.group_id:#x}"
            self.groups[msg.group_id] = msg
        elif isinstance(msg, MeterMod):
            if msg.command == "delete":
                if msg.meter_id == OFPM_ALL:
                    self.meters.clear()
                else:
                    self.meters.pop(msg.meter_id, None)
            else:
                self.meters[msg.meter_id] = msg
        else:
            assert isinstance(msg, Barrier | PacketOut)

    def lookup(self, table: int, packet: dict) -> FlowMod | None:
        best = None
        for (t, prio, m), f in self.flows.items():
            if t == table and all(packet.get(k) == v for k, v in m) and (
                    best is None or prio > best.priority):
                best = f
        return best


class FakeNetwork:
    """One fake switch per DPID of the fabric; ``send`` delivers a step's messages."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.switches = {fabric.dpid[s]: FakeSwitch(fabric.dpid[s]) for s in fabric.switches}
        self.by_name = {s: self.switches[fabric.dpid[s]] for s in fabric.switches}
        self.connected = set(self.switches)

    def send(self, step: Step) -> int:
        """Apply a step's messages to connected switches; return how many were mods."""
        n = 0
        for m in step.messages:
            if m.dpid in self.connected:
                self.switches[m.dpid].apply(m)
                n += not isinstance(m, Barrier)
        return n


@dataclass(frozen=True)
class Trace:
    path: tuple[str, ...]
    queues: tuple[int, ...]
    marked: bool


def walk(net: FakeNetwork, src: str, dst: str, packet: dict,
         dead: set[frozenset] | frozenset = frozenset()) -> list[Trace]:
    """Every way a packet from ``src`` (a host, or a switch it enters) to host ``dst`` goes.

    Select groups fan out over every bucket with a positive weight. A walk ends at a
    host, at the controller, or where no rule matches (dropped: it ends at a switch).
    """
    fabric = net.fabric
    peer = fabric.port_peer
    if src in fabric.hosts:
        starts = [(s, (src, s)) for s in fabric.switches for h, _ in fabric.host_links[s]
                  if h == src and frozenset((s, h)) not in dead]
        assert starts, f"{src} has no live link"
    else:
        starts = [(src, (src,))]
    out: list[Trace] = []

    def run(sw: str, actions: tuple[Action, ...], path: tuple[str, ...],
            queues: tuple[int, ...], pkt: dict, goto: int | None) -> None:
        for i, a in enumerate(actions):
            if isinstance(a, SetQueue):
                queues = queues + (a.queue_id,)
            elif isinstance(a, SetField):
                pkt[a.field] = a.value
            elif isinstance(a, GroupAction):
                rest = actions[i + 1:]
                for b in net.by_name[sw].groups[a.group_id].buckets:
                    if b.weight > 0:
                        run(sw, b.actions + rest, path, queues, dict(pkt), goto)
                return
            elif isinstance(a, Output):
                if a.port == OFPP_CONTROLLER:
                    out.append(Trace(path + ("controller",), queues, False))
                    continue
                nxt, _rate = peer[(sw, a.port)]
                assert frozenset((sw, nxt)) not in dead, f"{sw} -> {nxt} uses a dead link"
                if nxt in fabric.hosts:
                    out.append(Trace(path + (nxt,), queues, pkt.get("ip_ecn") == 3))
                else:
                    at_switch(nxt, path + (nxt,), queues, dict(pkt))
        if goto is not None:
            table(sw, goto, path, queues, pkt)

    def table(sw: str, table_id: int, path: tuple[str, ...], queues: tuple[int, ...],
              pkt: dict) -> None:
        flow = net.by_name[sw].lookup(table_id, pkt)
        if flow is None:
            out.append(Trace(path, queues, pkt.get("ip_ecn") == 3))  # dropped here
        else:
            run(sw, flow.actions, path, queues, pkt, flow.goto_table)

    def at_switch(sw: str, path: tuple[str, ...], queues: tuple[int, ...], pkt: dict) -> None:
        assert path.count(sw) == 1, f"loop: {path}"
        table(sw, 0, path, queues, pkt)  # each hop classifies afresh (one queue per hop)

    for s, path in starts:
        at_switch(s, path, (), {**packet, "eth_dst": fabric.mac[dst]})
    return out
