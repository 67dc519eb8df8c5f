"""Agent configuration: the JSON one agent reads, strictly checked, and how to write one
per rank from an emulation plan and a schedule.

An agent knows only its own part: its rank, address and interfaces, its peers'
addresses and the interface towards each, the transfers it sends (each with the ids
of the receives it waits for) and the transfers it receives. Keys:

    rank, ip, mac, peers {rank: {ip, mac, interface}}, sends [{id, dst, size_bytes, deps,
    interface?}], recvs [{id, src, size_bytes, interface?}] (a transfer's ``interface``,
    when given, overrides its peer's: one plane of a multi-plane GPU); optional: listen
    (interfaces to receive on besides those the transfers use: every plane), result,
    pmtu (1024), message_bytes (65536), window (256), ack_every (16), rto_ms (5),
    rto_drain_bps (none: each send's timeout is rto_ms plus twice its first window's time
    at this rate), rate_bps,
    line_rate_bps (1e9), dcqcn (false, true or {DcqcnParams fields}), burst_bytes (16384),
    start_at_ns,
    timeout_s (60), stall_timeouts (3: a send with this many retransmission timeouts in a
    row and no progress, while not paused, ends the agent: its path is broken; 0: never),
    linger_s (0.2), done_dir (none: a directory where each agent marks
    itself done; a finished agent lingers only until those it receives from are done, at
    most linger_s), drop_every_n (0, test only: drop every n-th data frame),
    pfc_priority (3: PFC PAUSE frames for it stop data sends), sample_ms (0: per-transfer
    bytes sent and rate every sample_ms, in the result's ``samples``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY
from fabrictwin.linux.names import check_name
from fabrictwin.traffic.dcqcn import DcqcnParams
from fabrictwin.traffic.fastpath import MAX_TRANSFER_ID, Layout
from fabrictwin.traffic.planes import Plane, stripe
from fabrictwin.traffic.schedule import Schedule, agent_view

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True)
class Peer:
    rank: int
    ip: str
    mac: str
    interface: str


@dataclass(frozen=True)
class SendSpec:
    id: int
    dst: int
    size_bytes: int
    deps: tuple[int, ...]
    interface: str | None = None  # None: the peer's
    #: endpoint costs (dilated): wait this long once the deps are in, then send no faster
    delay_ns: float = 0.0
    rate_bps: float | None = None


@dataclass(frozen=True)
class RecvSpec:
    id: int
    src: int
    size_bytes: int
    interface: str | None = None  # None: the peer's


@dataclass(frozen=True)
class AgentConfig:
    rank: int
    ip: str
    mac: str
    peers: Mapping[int, Peer]
    sends: tuple[SendSpec, ...]
    recvs: tuple[RecvSpec, ...]
    result: str | None = None
    pmtu: int = 1024
    message_bytes: int = 65536
    window: int = 256
    ack_every: int = 16
    rto_ms: float = 5.0
    rto_drain_bps: float | None = None
    rate_bps: float | None = None
    line_rate_bps: float = 1e9
    dcqcn: DcqcnParams | None = None
    burst_bytes: int = 16384
    start_at_ns: int | None = None
    timeout_s: float = 60.0
    stall_timeouts: int = 3
    linger_s: float = 0.2
    done_dir: str | None = None
    drop_every_n: int = 0
    pfc_priority: int = LOSSLESS_PRIORITY  # PAUSE frames for this priority stop sends
    sample_ms: float = 0.0  # per-transfer bytes and rate every sample_ms (0: none)
    listen: tuple[str, ...] = ()

    @property
    def interfaces(self) -> tuple[str, ...]:
        """Every interface the agent opens: its peers', its transfers' and ``listen``."""
        used = {p.interface for p in self.peers.values()}
        used |= {t.interface for t in (*self.sends, *self.recvs) if t.interface}
        return tuple(sorted(used | set(self.listen)))

    def interface_of(self, t: SendSpec | RecvSpec) -> str:
        """The interface transfer ``t`` uses."""
        return t.interface or self.peers[t.dst if isinstance(t, SendSpec) else t.src].interface


def _int(where: str, v: Any, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise FabricTwinError(f"config: {where}: expected an integer >= {lo}, got {v!r}")
    return v


def _num(where: str, v: Any, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (positive and not v > 0):
        raise FabricTwinError(f"config: {where}: expected a positive number, got {v!r}")
    return float(v)


def _delay(where: str, v: Any) -> float:
    """A finite time of at least zero."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
        raise FabricTwinError(f"config: {where}: expected a time of at least 0 ns, got {v!r}")
    return float(v)


def _keys(where: str, d: Any, required: set[str], optional: set[str] = frozenset()) -> None:
    if not isinstance(d, dict):
        raise FabricTwinError(f"config: {where}: expected an object, got {type(d).__name__}")
    missing, unknown = required - d.keys(), d.keys() - required - optional
    if missing:
        raise FabricTwinError(f"config: {where}: missing key {sorted(missing)[0]}")
    if unknown:
        raise FabricTwinError(f"config: {where}: unknown key {sorted(unknown)[0]} (expected "
                              f"one of {', '.join(sorted(required | optional))})")


def _addr(where: str, ip: Any, mac: Any) -> tuple[str, str]:
    try:
        ipaddress.IPv4Address(ip)
    except (ValueError, TypeError):
        raise FabricTwinError(f"config: {where}.ip: not an IPv4 address: {ip!r}") from None
    if not isinstance(mac, str) or not MAC_RE.match(mac.lower()):
        raise FabricTwinError(f"config: {where}.mac: not a MAC address: {mac!r}")
    return ip, mac.lower()


def parse_config(d: Any) -> AgentConfig:
    """An :class:`AgentConfig` from parsed JSON; one-line errors naming the key."""
    simple = {f.name for f in fields(AgentConfig)} - {"rank", "ip", "mac", "peers", "sends",
                                                      "recvs"}
    _keys("top level", d, {"rank", "ip", "mac", "peers", "sends", "recvs"}, simple)
    rank = _int("rank", d["rank"])
    ip, mac = _addr("top level", d["ip"], d["mac"])
    if not isinstance(d["peers"], dict):
        raise FabricTwinError("config: peers: expected an object keyed by rank")
    peers = {}
    for key, p in d["peers"].items():
        where = f"peers.{key}"
        if not str(key).isdigit():
            raise FabricTwinError(f"config: {where}: peer keys are ranks")
        _keys(where, p, {"ip", "mac", "interface"})
        pip, pmac = _addr(where, p["ip"], p["mac"])
        try:
            intf = check_name(p["interface"] if isinstance(p["interface"], str) else "")
        except FabricTwinError as e:
            raise FabricTwinError(f"config: {where}.interface: {e}") from None
        peers[int(key)] = Peer(int(key), pip, pmac, intf)
    sends, recvs, ids = [], [], set()
    for i, s in enumerate(_list("sends", d["sends"])):
        _keys(f"sends[{i}]", s, {"id", "dst", "size_bytes"},
              {"deps", "interface", "delay_ns", "rate_bps"})
        deps = tuple(_int(f"sends[{i}].deps", x) for x in _list(f"sends[{i}].deps",
                                                               s.get("deps", [])))
        rate = s.get("rate_bps")
        sends.append(SendSpec(_int(f"sends[{i}].id", s["id"]), _int(f"sends[{i}].dst", s["dst"]),
                              _int(f"sends[{i}].size_bytes", s["size_bytes"]), deps,
                              _intf(f"sends[{i}].interface", s.get("interface")),
                              _delay(f"sends[{i}].delay_ns", s.get("delay_ns", 0)),
                              None if rate is None else _num(f"sends[{i}].rate_bps", rate)))
    for i, r in enumerate(_list("recvs", d["recvs"])):
        _keys(f"recvs[{i}]", r, {"id", "src", "size_bytes"}, {"interface"})
        recvs.append(RecvSpec(_int(f"recvs[{i}].id", r["id"]), _int(f"recvs[{i}].src", r["src"]),
                              _int(f"recvs[{i}].size_bytes", r["size_bytes"]),
                              _intf(f"recvs[{i}].interface", r.get("interface"))))
    for t in [*sends, *recvs]:
        if t.id in ids or t.id > MAX_TRANSFER_ID:
            raise FabricTwinError(f"config: transfer id {t.id} repeated or above "
                                  f"{MAX_TRANSFER_ID}")
        ids.add(t.id)
        peer = t.dst if isinstance(t, SendSpec) else t.src
        if peer not in peers or peer == rank:
            raise FabricTwinError(f"config: transfer {t.id}: rank {peer} is not in peers")
    recv_ids = {r.id for r in recvs}
    for s in sends:
        unknown = sorted(set(s.deps) - recv_ids)
        if unknown:
            raise FabricTwinError(f"config: transfer {s.id} waits for {unknown[0]}, "
                                  "which this agent does not receive")
    kw: dict[str, Any] = {}
    for key in simple & d.keys():
        v = d[key]
        if key == "listen":
            v = tuple(_intf(f"listen[{i}]", x) for i, x in enumerate(_list("listen", v)))
        elif key in ("result", "done_dir"):
            if (v is not None or key == "result") and (not isinstance(v, str) or not v):
                raise FabricTwinError(f"config: {key}: expected a path")
        elif key == "dcqcn":
            v = _dcqcn(v)
        elif key in ("rate_bps", "start_at_ns", "rto_drain_bps") and v is None:
            pass
        elif key in ("pmtu", "message_bytes", "window", "ack_every", "burst_bytes",
                     "start_at_ns", "drop_every_n", "pfc_priority", "stall_timeouts"):
            v = _int(key, v, 0 if key in ("drop_every_n", "start_at_ns", "pfc_priority",
                                          "stall_timeouts") else 1)
            if key == "pfc_priority" and v > 7:
                raise FabricTwinError(f"config: pfc_priority: expected 0..7, got {v}")
        else:
            v = _num(key, v, positive=key not in ("linger_s", "sample_ms"))
            if v < 0:
                raise FabricTwinError(f"config: {key}: must not be negative, got {v}")
        kw[key] = v
    cfg = AgentConfig(rank, ip, mac, peers, tuple(sends), tuple(recvs), **kw)
    Layout(0, cfg.pmtu, cfg.message_bytes)  # checks pmtu and message_bytes
    return cfg


def _intf(where: str, v: Any) -> str | None:
    """An interface name, checked (None stays None)."""
    if v is None:
        return None
    try:
        return check_name(v if isinstance(v, str) else "")
    except FabricTwinError as e:
        raise FabricTwinError(f"config: {where}: {e}") from None


def _list(where: str, v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise FabricTwinError(f"config: {where}: expected a list, got {type(v).__name__}")
    return v


def _dcqcn(v: Any) -> DcqcnParams | None:
    if v is False or v is None:
        return None
    if v is True:
        return DcqcnParams()
    _keys("dcqcn", v, set(), {f.name for f in fields(DcqcnParams)})
    for k, x in v.items():
        _num(f"dcqcn.{k}", x, positive=False)
    return DcqcnParams(**v)


def config_json(cfg: AgentConfig) -> dict[str, Any]:
    """The JSON form of ``cfg`` (what :func:`parse_config` reads back)."""
    out: dict[str, Any] = {
        "rank": cfg.rank, "ip": cfg.ip, "mac": cfg.mac,
        "peers": {str(r): {"ip": p.ip, "mac": p.mac, "interface": p.interface}
                  for r, p in sorted(cfg.peers.items())},
        "sends": [{"id": s.id, "dst": s.dst, "size_bytes": s.size_bytes, "deps": list(s.deps),
                   **({"interface": s.interface} if s.interface else {}),
                   **({"delay_ns": s.delay_ns} if s.delay_ns else {}),
                   **({"rate_bps": s.rate_bps} if s.rate_bps else {})} for s in cfg.sends],
        "recvs": [{"id": r.id, "src": r.src, "size_bytes": r.size_bytes,
                   **({"interface": r.interface} if r.interface else {})} for r in cfg.recvs]}
    for f in fields(AgentConfig):
        if f.name not in out:
            v = getattr(cfg, f.name)
            out[f.name] = (asdict(v) if isinstance(v, DcqcnParams) else
                           list(v) if isinstance(v, tuple) else v)
    return out


class HostAddresses(Protocol):
    """What an agent's configuration needs of a host (an emulation plan's hosts have it)."""

    name: str
    ip: str
    mac: str
    routes: Sequence[tuple[str, str, str]]  # (destination ip, next-hop mac, interface)
    intfs: Sequence[str]  # every interface: a multi-plane GPU receives on all of them
    #: (destination ip, ((interface, the destination's interface or "", rate), ...)):
    #: the planes towards a destination reached over more than one
    planes: Sequence[tuple[str, Sequence[tuple[str, str, float]]]]


def agent_configs(hosts_of_fabric: Iterable[HostAddresses], schedule: Schedule,
                  rank_hosts: Sequence[str], *,
                  charges: Mapping[int, Mapping[str, float]] | None = None,
                  **options: Any) -> dict[int, dict[str, Any]]:
    """One agent config (JSON form) per rank: rank r runs on host ``rank_hosts[r]``.

    ``options`` are the optional keys above, the same for every agent; a ``result``
    option may contain ``{rank}``. A transfer between hosts joined by several planes is
    striped over all of them (:mod:`~fabrictwin.traffic.planes`), and every agent
    listens on all its interfaces. ``charges`` maps a transfer id to the endpoint costs
    its send pays (``delay_ns``, ``rate_bps``, dilated; :mod:`fabrictwin.runs.endpoint`).
    """
    if len(rank_hosts) < schedule.ranks:
        raise FabricTwinError(f"{schedule.name} has {schedule.ranks} ranks but only "
                              f"{len(rank_hosts)} hosts were given")
    hosts = {h.name: h for h in hosts_of_fabric}
    missing = [h for h in rank_hosts if h not in hosts]
    if missing:
        raise FabricTwinError(f"host {missing[0]!r} is not in the emulation plan")
    ranked = [hosts[rank_hosts[r]] for r in range(schedule.ranks)]
    planes_by_ip = [dict(h.planes) for h in ranked]

    def planes_of(src: int, dst: int) -> list[Plane]:
        return [Plane(*p) for p in planes_by_ip[src].get(ranked[dst].ip, ())]

    views = {r: agent_view(schedule, r) for r in range(schedule.ranks)}
    for view in views.values():
        for send in view["sends"]:
            send.update((charges or {}).get(send["id"], {}))
    views = stripe(views, planes_of)
    out = {}
    for rank in range(schedule.ranks):
        me = ranked[rank]
        route = {ip: (mac, intf) for ip, mac, intf in me.routes}
        view = views[rank]
        talks = {s["dst"] for s in view["sends"]} | {r["src"] for r in view["recvs"]}
        peers = {}
        for p in sorted(talks):
            other = hosts[rank_hosts[p]]
            if other.ip not in route:
                raise FabricTwinError(f"no route from {me.name} to {other.name}")
            peers[str(p)] = {"ip": other.ip, "mac": route[other.ip][0],
                             "interface": route[other.ip][1]}
        cfg = {"rank": rank, "ip": me.ip, "mac": me.mac, "peers": peers, **view,
               "listen": list(me.intfs), **options}
        if isinstance(cfg.get("result"), str):
            cfg["result"] = cfg["result"].format(rank=rank)
        out[rank] = config_json(parse_config(cfg))
    return out
