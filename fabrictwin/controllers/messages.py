"""OpenFlow 1.3 messages as plain frozen data: what the policy core returns.

The core never imports os_ken; :mod:`fabrictwin.controllers.app` translates these
into os_ken (or Ryu) message objects. Match fields and set-field names are OXM
names as os_ken spells them (``eth_dst``, ``eth_type``, ``ip_dscp``, ``ip_ecn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# OpenFlow 1.3 protocol numbers the core needs (ofproto_v1_3 has the same values).
OFPP_CONTROLLER = 0xFFFFFFFD
OFPP_ANY = 0xFFFFFFFF
OFPG_ALL = 0xFFFFFFFC
OFPM_ALL = 0xFFFFFFFF
OFPTT_ALL = 0xFF
OFPCML_NO_BUFFER = 0xFFFF
ETH_TYPE_IPV4 = 0x0800
ETH_TYPE_ARP = 0x0806

#: The cookie on every flow this controller installs, so its rules are recognisable.
COOKIE = 0xF7C0

MatchValue = int | str
Match = tuple[tuple[str, MatchValue], ...]


def match(**fields: MatchValue) -> Match:
    """A match as a sorted tuple of (OXM field, value): hashable and order-independent."""
    return tuple(sorted(fields.items()))


@dataclass(frozen=True)
class Output:
    port: int
    max_len: int = OFPCML_NO_BUFFER  # bytes sent to the controller (only for OFPP_CONTROLLER)


@dataclass(frozen=True)
class GroupAction:
    group_id: int


@dataclass(frozen=True)
class SetQueue:
    queue_id: int


@dataclass(frozen=True)
class SetField:
    field: str
    value: MatchValue


Action = Output | GroupAction | SetQueue | SetField


@dataclass(frozen=True)
class FlowMod:
    """``command``: ``add`` (also replaces a rule of the same table, priority and match),
    ``delete_strict`` (that one rule) or ``delete`` (every rule matching, all tables with
    ``table_id=OFPTT_ALL``). Instructions: meter, apply ``actions``, then ``goto_table``."""

    dpid: int
    command: str
    table_id: int
    priority: int = 0
    match: Match = ()
    actions: tuple[Action, ...] = ()
    goto_table: int | None = None
    meter_id: int | None = None
    cookie: int = COOKIE


@dataclass(frozen=True)
class Bucket:
    weight: int
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class GroupMod:
    """``command``: ``add``, ``modify`` or ``delete`` (``group_id=OFPG_ALL``: every group).
    ``group_type``: ``select``, ``all``, ``indirect`` or ``ff``."""

    dpid: int
    command: str
    group_id: int
    group_type: str = "select"
    buckets: tuple[Bucket, ...] = ()


@dataclass(frozen=True)
class MeterMod:
    """A drop-band meter; ``command``: ``add``, ``modify`` or ``delete``."""

    dpid: int
    command: str
    meter_id: int
    rate_kbps: int = 0
    burst_kbits: int = 0


@dataclass(frozen=True)
class PacketOut:
    dpid: int
    port: int
    data: bytes


@dataclass(frozen=True)
class Barrier:
    """Messages before it take effect before messages after it (on that switch)."""

    dpid: int


Message = FlowMod | GroupMod | MeterMod | PacketOut | Barrier


@dataclass(frozen=True)
class Decision:
    """One logged decision: when, what kind, and its figures (JSON-serialisable)."""

    time_s: float
    kind: str
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"t": round(self.time_s, 6), "kind": self.kind, **self.data}


@dataclass(frozen=True)
class Step:
    """What the core returns for one event: messages in order, and its decisions."""

    messages: tuple[Message, ...] = ()
    decisions: tuple[Decision, ...] = ()

    def __add__(self, other: Step) -> Step:
        return Step(self.messages + other.messages, self.decisions + other.decisions)

    def for_dpid(self, dpid: int) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.dpid == dpid)
