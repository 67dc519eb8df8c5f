"""One switch's forwarding state (pure): route rules, ECMP groups, marking groups.

Per destination host a switch has one rule in each routing table:

- table 2 (all traffic but ECN-capable lossless): one next-hop port -> ``output``;
  several -> a select group ``G`` over them (one group per distinct port set).
- table 1 (ECN-capable lossless): the same choice through marking groups: one port
  ``x`` -> egress group ``E(x)``; several -> select group ``L`` (the twin of ``G``)
  whose buckets go to ``E(x)``. ``E(x)`` marks CE on a share of flows when ``x`` is
  congested, and just outputs otherwise.

Group ids: ``G`` 1..0xFFFF, ``L`` = ``LOSSLESS_BASE + G``, ``E(x)`` = ``EGRESS_BASE + x``.

Routes change by the smallest diff: a group whose every user moves to the same new
port set keeps its id and only its buckets change (so an ECMP member going down
costs one or two group-mods, not a flow-mod per host; such a group may end with one
bucket). Other moved hosts get a flow-mod to an existing group of their new set, a
new group, or a port. Groups left unused are deleted after the flows that used them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fabrictwin.controllers.classes import TABLE_LOSSLESS, TABLE_ROUTE
from fabrictwin.controllers.ecn import egress_buckets
from fabrictwin.controllers.messages import (
    Barrier,
    Bucket,
    FlowMod,
    GroupAction,
    GroupMod,
    Message,
    Output,
    match,
)

LOSSLESS_BASE = 0x100000
EGRESS_BASE = 0x200000
MAX_ROUTE_GROUP = 0xFFFF
PRIO_ROUTE = 100
FULL_WEIGHT = 100

Ref = tuple[str, int]  # ("port", port) or ("group", group id)


@dataclass
class SwitchTable:
    """Everything installed on one switch, kept so changes can be sent as diffs."""

    name: str
    dpid: int
    ports: tuple[int, ...]
    mac: Mapping[str, str]  # host -> MAC
    nexthops: dict[str, frozenset[int]] = field(default_factory=dict)
    refs: dict[str, Ref] = field(default_factory=dict)
    groups: dict[int, frozenset[int]] = field(default_factory=dict)
    weights: dict[int, dict[int, int]] = field(default_factory=dict)  # group -> port -> w
    marks: dict[int, int] = field(default_factory=dict)  # port -> per-mille marked
    next_gid: int = 1

    # -- building blocks -------------------------------------------------------------------
    def _alloc(self, ports: frozenset[int]) -> int:
        if self.next_gid > MAX_ROUTE_GROUP:  # ids are never reused within a run
            raise RuntimeError(f"{self.name}: out of group ids")
        gid, self.next_gid = self.next_gid, self.next_gid + 1
        self.groups[gid] = ports
        self.weights[gid] = {p: FULL_WEIGHT for p in ports}
        return gid

    def _ref_for(self, ports: frozenset[int], by_set: dict[frozenset[int], int],
                 added: list[int]) -> Ref:
        if len(ports) == 1:
            return ("port", next(iter(ports)))
        gid = by_set.get(ports)
        if gid is None:
            gid = by_set[ports] = self._alloc(ports)
            added.append(gid)
        return ("group", gid)

    def route_flows(self, host: str, command: str = "add") -> list[FlowMod]:
        m = match(eth_dst=self.mac[host])
        if command != "add":
            return [FlowMod(self.dpid, command, t, PRIO_ROUTE, m)
                    for t in (TABLE_LOSSLESS, TABLE_ROUTE)]
        kind, ref = self.refs[host]
        if kind == "port":
            plain, lossless = Output(ref), GroupAction(EGRESS_BASE + ref)
        else:
            plain, lossless = GroupAction(ref), GroupAction(LOSSLESS_BASE + ref)
        return [FlowMod(self.dpid, "add", TABLE_LOSSLESS, PRIO_ROUTE, m, (lossless,)),
                FlowMod(self.dpid, "add", TABLE_ROUTE, PRIO_ROUTE, m, (plain,))]

    def group_mods(self, gid: int, command: str) -> list[GroupMod]:
        """The ``G`` group and its ``L`` twin."""
        if command == "delete":
            return [GroupMod(self.dpid, "delete", gid), GroupMod(self.dpid, "delete",
                                                                 LOSSLESS_BASE + gid)]
        w = self.weights[gid]
        ports = sorted(self.groups[gid])
        plain = tuple(Bucket(w[p], (Output(p),)) for p in ports)
        lossless = tuple(Bucket(w[p], (GroupAction(EGRESS_BASE + p),)) for p in ports)
        return [GroupMod(self.dpid, command, gid, "select", plain),
                GroupMod(self.dpid, command, LOSSLESS_BASE + gid, "select", lossless)]

    def egress_mod(self, port: int, command: str = "modify") -> GroupMod:
        return GroupMod(self.dpid, command, EGRESS_BASE + port, "select",
                        egress_buckets(port, self.marks.get(port, 0)))

    # -- whole state and diffs -------------------------------------------------------------
    def install(self) -> list[Message]:
        """Every group and route rule, for a switch that has just (re)connected."""
        msgs: list[Message] = [self.egress_mod(p, "add") for p in self.ports]
        for gid in sorted(self.groups):
            msgs += self.group_mods(gid, "add")
        msgs.append(Barrier(self.dpid))  # groups exist before rules point at them
        for h in sorted(self.refs):
            msgs += self.route_flows(h)
        return msgs

    def update(self, new: Mapping[str, frozenset[int]]) -> tuple[list[Message], int]:
        """Move to next hops ``new``; return the messages and how many hosts changed."""
        changed = {h: new.get(h, frozenset()) for h in set(self.nexthops) | set(new)
                   if self.nexthops.get(h, frozenset()) != new.get(h, frozenset())}
        if not changed:
            return [], 0
        users: dict[int, list[str]] = {}
        for h, (kind, ref) in self.refs.items():
            if kind == "group":
                users.setdefault(ref, []).append(h)
        group_msgs: list[Message] = []
        moved: list[str] = []
        for gid, hs in sorted(users.items()):
            leaving = [h for h in hs if h in changed]
            targets = {changed[h] for h in leaving}
            if leaving and len(leaving) == len(hs) and len(targets) == 1 and all(targets):
                ports = targets.pop()  # every user goes the same new way: re-bucket in place
                old_w = self.weights[gid]
                self.groups[gid] = ports
                self.weights[gid] = {p: old_w.get(p, FULL_WEIGHT) for p in ports}
                group_msgs += self.group_mods(gid, "modify")
                for h in leaving:
                    self.nexthops[h] = ports
            else:
                moved += leaving
        moved += [h for h in changed if self.refs.get(h, ("port", 0))[0] == "port"]

        by_set = {ports: gid for gid, ports in sorted(self.groups.items(), reverse=True)}
        added: list[int] = []
        flow_msgs: list[Message] = []
        for h in sorted(moved):
            ports = changed[h]
            if not ports:
                if h in self.refs:
                    flow_msgs += self.route_flows(h, "delete_strict")
                    del self.refs[h]
                self.nexthops.pop(h, None)
                continue
            ref = self._ref_for(ports, by_set, added)
            self.nexthops[h] = ports
            if self.refs.get(h) != ref:
                self.refs[h] = ref
                flow_msgs += self.route_flows(h)
        for gid in added:
            group_msgs += self.group_mods(gid, "add")

        in_use = {ref for kind, ref in self.refs.values() if kind == "group"}
        delete_msgs: list[Message] = []
        for gid in sorted(set(self.groups) - in_use):
            delete_msgs += self.group_mods(gid, "delete")
            del self.groups[gid], self.weights[gid]
        return _ordered(self.dpid, group_msgs, flow_msgs, delete_msgs), len(changed)

    def reweigh(self, gid: int, weights: Mapping[int, int]) -> list[GroupMod]:
        self.weights[gid] = dict(weights)
        return self.group_mods(gid, "modify")


def fresh_table(name: str, dpid: int, ports: tuple[int, ...], mac: Mapping[str, str],
                nexthops: Mapping[str, frozenset[int]]) -> SwitchTable:
    """The state for ``nexthops`` from scratch: one group per distinct multi-port set."""
    t = SwitchTable(name, dpid, ports, mac)
    by_set: dict[frozenset[int], int] = {}
    for ports_ in sorted({p for p in nexthops.values() if len(p) > 1}, key=sorted):
        by_set[ports_] = t._alloc(ports_)
    for h, p in nexthops.items():
        t.nexthops[h] = p
        t.refs[h] = ("port", next(iter(p))) if len(p) == 1 else ("group", by_set[p])
    return t


def _ordered(dpid: int, *phases: list[Message]) -> list[Message]:
    """Phases separated by barriers, so nothing points at a group not yet there."""
    out: list[Message] = []
    for phase in phases:
        if phase:
            if out:
                out.append(Barrier(dpid))
            out += phase
    return out
