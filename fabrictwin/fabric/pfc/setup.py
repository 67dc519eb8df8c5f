"""PFC for an emulation plan, pure: thresholds per port, queue shapes, the daemon's config.

Every switch has ``buffer_bytes`` for the lossless class, shared by its ports: any one
egress queue may hold all of it (its tc limit), and with PFC on each ingress port gets
static thresholds from :func:`~fabrictwin.hardware.headroom.lossless_thresholds`, with the
headroom the *emulation* needs (:func:`~fabrictwin.hardware.headroom.emulated_headroom`:
the dilated rate times the emulator's reaction time and the link's dilated delay, plus
what a sender already queued). The hardware headroom of each link is reported beside it.
With ``alpha``, XOFF is dynamic instead: every port's headroom is reserved and the rest
of the buffer is a shared pool (see :mod:`~fabrictwin.fabric.pfc.core`).
Hosts' lossless queues hold ``host_queue_bytes``: a NIC's transmit queue, the part a
paused sender cannot recall.

Buffers: ``PfcOptions.buffer_bytes`` for every switch, unless ``buffers`` gives a switch
its own (:func:`switch_buffers` reads the graph's ``buffer_bytes``, the chip profile's).

Distance: ports on ``scale-across`` links (DCI) need headroom for the fibre's round trip,
megabytes at km distances. Their headroom is the larger of the emulated and the hardware
one, so an emulation whose dilated delay falls below what it emulates cannot call a DCI
lossless that the hardware could not hold; when it does not fit, the error names the DCI
port, its distance (``distances_m``, :func:`link_distances`) and ``--dci-lossy``. Ports on
links of ``PfcOptions.lossy_tiers`` get no thresholds and are not in the daemon's
ports: their class tail-drops when full, and the transport recovers the losses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.fabric.pfc.tc import LosslessQueue, lossless_queue
from fabrictwin.fabric.plan import EmulationPlan
from fabrictwin.fabric.queues import CREDIT_TIERS, default_queues
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY, QueueSpec, lossless_of
from fabrictwin.hardware.headroom import emulated_headroom, lossless_thresholds, pfc_headroom
from fabrictwin.topologies.graph import TIERS
from fabrictwin.units import format_latency, format_rate

log = logging.getLogger(__name__)

NS_PER_M = 5.0
FRAME_OVERHEAD = 22  # Ethernet header 14, VLAN tag 4, FCS 4 on top of the MTU
DCI_TIER = "scale-across"
DCI_LOSSY_FLAG = "--dci-lossy"  # what the refusal tells the user to run with


@dataclass(frozen=True)
class PfcOptions:
    enabled: bool = True
    buffer_bytes: int = 1_000_000       # per switch, for the lossless class
    host_queue_bytes: int = 16_384      # a sender NIC's transmit queue
    poll_ms: float = 10.0
    reaction_ms: float = 30.0           # poll + reading tc + pausing the upstream, measured
    watchdog: Watchdog | None = None    # times in emulated ns
    alpha: float | None = None          # dynamic XOFF (see core); None: static per port
    watchdog_hw: Watchdog | None = None  # times in hardware ns: dilated by the plan's D
    lossy_tiers: tuple[str, ...] = ()   # links of these tiers carry the class without PFC
    #: every switch gets its profile's buffer (else only DCI routers; the rest buffer_bytes)
    hardware_buffers: bool = False

    def __post_init__(self) -> None:
        for key in ("buffer_bytes", "host_queue_bytes", "poll_ms", "reaction_ms"):
            if not getattr(self, key) > 0:
                raise FabricTwinError(f"pfc: {key} must be positive, got {getattr(self, key)}")
        if isinstance(self.lossy_tiers, str):  # tuple("scale-across") would be its letters
            raise FabricTwinError(f"pfc: lossy_tiers must be a list of tiers, got "
                                  f"{self.lossy_tiers!r}")
        object.__setattr__(self, "lossy_tiers", tuple(self.lossy_tiers))
        for tier in self.lossy_tiers:
            if tier not in TIERS:
                raise FabricTwinError(f"pfc: lossy_tiers: unknown tier {tier!r} "
                                      f"(tiers: {', '.join(TIERS)})")
        if self.watchdog is not None and self.watchdog_hw is not None:
            raise FabricTwinError("pfc: give the watchdog in emulated or hardware time, "
                                  "not both")
        if self.alpha is not None and not 0 < self.alpha < math.inf:
            raise FabricTwinError(f"pfc: alpha must be positive, got {self.alpha:g}")


@dataclass(frozen=True)
class PfcSetup:
    """Everything a run needs: queue shapes by interface and the daemon's config."""

    queues: dict[str, LosslessQueue]   # every port, hosts' included
    daemon: dict[str, Any]             # JSON for fabrictwin.fabric.pfc.daemon
    report: dict[str, Any]             # thresholds and headroom, for the results

    def tc_line(self, intf: str) -> str | None:
        q = self.queues.get(intf)
        return q.line("replace") if q is not None else None

    def leaf_qdiscs(self) -> dict[str, str]:
        """The tc line of every port's lossless queue, for the emulation's bring-up."""
        return {intf: q.line("replace") for intf, q in self.queues.items()}


def lossless_spec() -> QueueSpec:
    return lossless_of(default_queues())


def switch_buffers(g: nx.Graph) -> dict[str, int]:
    """Each switch's packet buffer from the graph (its chip profile's ``buffer_bytes``);
    switches whose buffer is unpublished (0) are left out, so they get the default."""
    return {n: int(b) for n, d in g.nodes(data=True)
            if d.get("kind") != "host" and (b := d.get("buffer_bytes") or 0) > 0}


def link_distances(g: nx.Graph) -> dict[tuple[str, str], float]:
    """Fibre length of every link the graph gives one (scale-across), both ways round."""
    out = {}
    for u, v, d in g.edges(data=True):
        if d.get("distance_m") is not None:
            out[u, v] = out[v, u] = float(d["distance_m"])
    return out


def _mb(size_bytes: float) -> str:
    return f"{size_bytes / 1e6:.3g} MB"


def _dci_refusal(sw: str, buffer: int, ports: int, intf: str, link: Any, need: int,
                 mtu: int, distances_m: Mapping[tuple[str, str], float]) -> FabricTwinError:
    """The one line for a DCI port whose distance-derived headroom does not fit."""
    d = distances_m.get((link.u, link.v))
    where = (f"{d / 1000:g} km" if d is not None
             else f"{format_latency(link.hw_latency_ns)} one way")
    return FabricTwinError(
        f"pfc: DCI port {intf} ({where} at {format_rate(link.hw_rate_bps)}) needs "
        f"{_mb(need)} of headroom, switch {sw} has {_mb(buffer // ports)} per port after "
        f"sharing {_mb(buffer)} over {ports} lossless ingress ports (headroom + 2 x MTU "
        f"{mtu} B each); lossless over this DCI is not feasible: run with {DCI_LOSSY_FLAG} "
        f"(the DCI class without PFC, losses recovered by the transport)")


def _fits(buffer: int, ports: int, headroom: int, mtu: int) -> bool:
    try:
        lossless_thresholds(buffer, ports, headroom, mtu)
    except FabricTwinError:
        return False
    return True


def pfc_setup(plan: EmulationPlan, opts: PfcOptions, *, buffers: Mapping[str, int] | None = None,
              distances_m: Mapping[tuple[str, str], float] | None = None) -> PfcSetup:
    """PFC for ``plan``; one line naming the switch (or the DCI port) when its buffer
    cannot be lossless. ``buffers``: a switch's own buffer (default
    ``opts.buffer_bytes``); ``distances_m``: fibre of a link by its ends, for messages."""
    spec = lossless_spec()
    hosts = {h.name for h in plan.hosts}
    buffers = dict(buffers or {})
    for sw, b in buffers.items():
        if not isinstance(b, int) or isinstance(b, bool) or b <= 0:
            raise FabricTwinError(f"pfc: buffers: switch {sw}: must be a positive integer, "
                                  f"got {b!r}")
    distances_m = distances_m or {}
    mtu = plan.mtu + FRAME_OVERHEAD  # headroom counts whole frames on the wire
    ports_of: dict[str, list[tuple[str, str, Any]]] = {}
    lossy_of: dict[str, list[str]] = {}
    queues: dict[str, LosslessQueue] = {}
    for link in plan.links:
        if link.tier in CREDIT_TIERS:  # lossless by credits already: no PFC, no PFC queue
            continue
        for intf, node, peer in ((link.intf_u, link.u, link.v), (link.intf_v, link.v, link.u)):
            limit = opts.host_queue_bytes if node in hosts else buffers.get(node, opts.buffer_bytes)
            # a lossy port keeps its queue: without pauses it tail-drops at the limit
            queues[intf] = lossless_queue(intf, spec, link.rate_bps, plan.mtu, limit)
            if node in hosts:
                continue
            if link.tier in opts.lossy_tiers:
                lossy_of.setdefault(node, []).append(intf)
            else:
                ports_of.setdefault(node, []).append((intf, peer, link))
    ports, report_sw = [], {}
    for sw, plist in sorted(ports_of.items()):
        buffer = buffers.get(sw, opts.buffer_bytes)
        heads = {}
        hw = {intf: pfc_headroom(link.hw_rate_bps, link.hw_latency_ns / NS_PER_M, mtu).total_bytes
              for intf, _peer, link in plist}
        for intf, peer, link in plist:
            sender_q = opts.host_queue_bytes if peer in hosts else queues[intf].burst_bytes
            heads[intf] = emulated_headroom(link.rate_bps, link.delay_ns, mtu,
                                            opts.reaction_ms * 1e6, sender_q).total_bytes
            if link.tier == DCI_TIER:  # never less than the fibre's round trip needs
                heads[intf] = max(heads[intf], hw[intf])
        worst = max(heads.values())
        try:
            th = lossless_thresholds(buffer, len(plist), worst, mtu)
        except FabricTwinError as e:
            dci = [(heads[i], i, link) for i, _p, link in plist if link.tier == DCI_TIER]
            rest = [heads[i] for i, _p, link in plist if link.tier != DCI_TIER]
            # name the DCI only when the switch would be lossless without it
            if dci and (not rest or _fits(buffer, len(rest), max(rest), mtu)):
                need, intf, link = max(dci, key=lambda t: t[0])
                raise _dci_refusal(sw, buffer, len(plist), intf, link, need, mtu,
                                   distances_m) from None
            raise FabricTwinError(f"pfc: switch {sw}: {e}") from None
        # dynamic: every port's headroom is reserved, the rest is the shared pool (the
        # static check above already made sure the buffer covers the headroom)
        dynamic = {"alpha": opts.alpha, "shared_bytes": buffer - len(plist) * worst
                   } if opts.alpha else {}
        lossy = {"lossy_ports": sorted(lossy_of[sw])} if sw in lossy_of else {}
        report_sw[sw] = {**th.as_dict(), **dynamic,
                         "hardware_headroom_bytes": max(hw.values()), **lossy}
        for intf, peer, link in plist:
            ports.append({"intf": intf, "switch": sw, "peer": peer, "peer_is_host": peer in hosts,
                          "rate_bps": link.rate_bps, "xoff_bytes": th.xoff_bytes,
                          "xon_bytes": th.xon_bytes, **dynamic})
    wd = opts.watchdog
    if opts.watchdog_hw is not None:
        hw = opts.watchdog_hw
        wd = Watchdog(hw.detect_ns * plan.dilation, hw.restore_ns * plan.dilation, hw.action)
    switch_ports = {p["intf"] for p in ports}
    daemon = {"ports": ports, "enabled": opts.enabled, "priority": LOSSLESS_PRIORITY,
              "poll_ms": opts.poll_ms,
              "queues": [q.__dict__ for i, q in queues.items() if i in switch_ports],
              "watchdog": None if wd is None else {"detect_ns": wd.detect_ns,
                                                   "restore_ns": wd.restore_ns,
                                                   "action": wd.action}}
    lossy_ports = sorted(i for intfs in lossy_of.values() for i in intfs)
    if lossy_ports:
        log.info("pfc: %d ports on %s links are lossy (no PFC)", len(lossy_ports),
                 "/".join(opts.lossy_tiers))
    report = {"enabled": opts.enabled, "buffer_bytes": opts.buffer_bytes,
              "host_queue_bytes": opts.host_queue_bytes, "poll_ms": opts.poll_ms,
              "reaction_ms": opts.reaction_ms, "priority": LOSSLESS_PRIORITY,
              "switches": report_sw, "watchdog": daemon["watchdog"]}
    if opts.lossy_tiers:  # only then: reports of lossless-only runs stay as they were
        report.update(lossy_tiers=list(opts.lossy_tiers), lossy_ports=lossy_ports)
    return PfcSetup(queues, daemon, report)
