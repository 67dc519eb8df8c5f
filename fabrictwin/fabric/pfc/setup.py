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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.fabric.pfc.tc import LosslessQueue, lossless_queue
from fabrictwin.fabric.plan import EmulationPlan
from fabrictwin.fabric.queues import default_queues
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY, QueueSpec, lossless_of
from fabrictwin.hardware.headroom import emulated_headroom, lossless_thresholds, pfc_headroom

NS_PER_M = 5.0
FRAME_OVERHEAD = 22  # Ethernet header 14, VLAN tag 4, FCS 4 on top of the MTU


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

    def __post_init__(self) -> None:
        for key in ("buffer_bytes", "host_queue_bytes", "poll_ms", "reaction_ms"):
            if not getattr(self, key) > 0:
                raise FabricTwinError(f"pfc: {key} must be positive, got {getattr(self, key)}")
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


def pfc_setup(plan: EmulationPlan, opts: PfcOptions) -> PfcSetup:
    """PFC for ``plan``; one line naming the switch when its buffer cannot be lossless."""
    spec = lossless_spec()
    hosts = {h.name for h in plan.hosts}
    mtu = plan.mtu + FRAME_OVERHEAD  # headroom counts whole frames on the wire
    ports_of: dict[str, list[tuple[str, str, Any]]] = {}
    queues: dict[str, LosslessQueue] = {}
    for link in plan.links:
        for intf, node, peer in ((link.intf_u, link.u, link.v), (link.intf_v, link.v, link.u)):
            limit = opts.host_queue_bytes if node in hosts else opts.buffer_bytes
            queues[intf] = lossless_queue(intf, spec, link.rate_bps, plan.mtu, limit)
            if node not in hosts:
                ports_of.setdefault(node, []).append((intf, peer, link))
    ports, report_sw = [], {}
    for sw, plist in sorted(ports_of.items()):
        heads = {}
        for intf, peer, link in plist:
            sender_q = opts.host_queue_bytes if peer in hosts else queues[intf].burst_bytes
            heads[intf] = emulated_headroom(link.rate_bps, link.delay_ns, mtu,
                                            opts.reaction_ms * 1e6, sender_q)
        worst = max(h.total_bytes for h in heads.values())
        try:
            th = lossless_thresholds(opts.buffer_bytes, len(plist), worst, mtu)
        except FabricTwinError as e:
            raise FabricTwinError(f"pfc: switch {sw}: {e}") from None
        hw = {intf: pfc_headroom(link.hw_rate_bps, link.hw_latency_ns / NS_PER_M, mtu).total_bytes
              for intf, _peer, link in plist}
        # dynamic: every port's headroom is reserved, the rest is the shared pool (the
        # static check above already made sure the buffer covers the headroom)
        dynamic = {"alpha": opts.alpha, "shared_bytes": opts.buffer_bytes - len(plist) * worst
                   } if opts.alpha else {}
        report_sw[sw] = {**th.as_dict(), **dynamic,
                         "hardware_headroom_bytes": max(hw.values())}
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
    report = {"enabled": opts.enabled, "buffer_bytes": opts.buffer_bytes,
              "host_queue_bytes": opts.host_queue_bytes, "poll_ms": opts.poll_ms,
              "reaction_ms": opts.reaction_ms, "priority": LOSSLESS_PRIORITY,
              "switches": report_sw, "watchdog": daemon["watchdog"]}
    return PfcSetup(queues, daemon, report)
