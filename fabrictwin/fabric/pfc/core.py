"""PFC of one emulated fabric, pure: buffer accounting, pause decisions, pause obeying, watchdog.

Userspace Open vSwitch has no PFC, so the emulator adds it beside the switches: a
daemon (:mod:`fabrictwin.fabric.pfc.daemon`) feeds this state machine what the kernel
reports and carries out the actions it returns. Time is passed in (ns); nothing here
reads a clock or touches the system, so the unit tests drive it with numbers.

Model (one lossless priority):

- Each switch's lossless frames wait in the lossless class of its egress ports (a tc
  queue per port). Real switches account buffer to the *ingress* port a frame came in
  on; the kernel reports egress backlogs only, so each ingress port's share is estimated
  by a fluid FIFO: every poll, the bytes that arrived on each port join its share, and
  the switch's measured backlog is split over ports in proportion to what they hold.
- An ingress port whose share crosses XOFF sends PAUSE (maximal quanta) to its
  upstream, refreshed at half the pause time while above XON; below XON it sends a
  resume (quanta 0). XOFF is static, or with ``alpha`` dynamic as in shared-buffer
  ASICs: alpha x (the shared pool - what the switch holds now), so one congested port
  may take much of an idle switch's buffer and less of a busy one's (Choudhury and
  Hahne, "Dynamic queue length thresholds for shared-memory packet switches",
  IEEE/ACM ToN 1998). XON stays the static gap below it.
- A PAUSE received on a port stops that port's lossless egress queue (held, not dropped)
  for the quanta's time at the port's rate, or until a resume.
- Watchdog: a queue paused longer than ``detect_ns`` without a break is a storm or a
  deadlock. Then, like switch vendors' PFC watchdogs, the port stops honouring PAUSE for
  ``restore_ns`` and either forwards the queue anyway (``forward``) or drops it
  (``drop``); the event is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fabrictwin.errors import FabricTwinError
from fabrictwin.protocols.pfc import MAX_QUANTA, quanta_to_ns

WATCHDOG_ACTIONS = ("drop", "forward")


@dataclass(frozen=True)
class PortSpec:
    """One switch port of the emulation (an interface in the root namespace)."""

    intf: str
    switch: str
    peer: str           # the node at the other end
    peer_is_host: bool
    rate_bps: float     # dilated link rate: pause quanta are bit times at this rate
    xoff_bytes: int
    xon_bytes: int
    alpha: float = 0.0       # > 0: dynamic XOFF = alpha x (shared_bytes - switch's backlog)
    shared_bytes: int = 0    # the switch's buffer less every port's reserved headroom

    def thresholds(self, switch_used: float) -> tuple[float, float]:
        """(XOFF, XON) while the switch holds ``switch_used`` bytes."""
        if not self.alpha:
            return self.xoff_bytes, self.xon_bytes
        xoff = self.alpha * max(0.0, self.shared_bytes - switch_used)
        return xoff, max(0.0, xoff - (self.xoff_bytes - self.xon_bytes))


@dataclass(frozen=True)
class Watchdog:
    detect_ns: float
    restore_ns: float
    action: str = "drop"

    def __post_init__(self) -> None:
        if not (self.detect_ns > 0 and self.restore_ns > 0):
            raise FabricTwinError("pfc watchdog: detection and restoration times must be positive")
        if self.action not in WATCHDOG_ACTIONS:
            raise FabricTwinError(f"pfc watchdog: action {self.action!r} is not one of "
                                  f"{', '.join(WATCHDOG_ACTIONS)}")


# -- actions the daemon carries out --------------------------------------------------------
@dataclass(frozen=True)
class SendPause:
    intf: str
    quanta: int  # 0: resume


@dataclass(frozen=True)
class Gate:
    intf: str
    open: bool   # False: stop the lossless egress queue (hold its frames)
    drop: bool = False  # watchdog ``drop``: discard the queue's frames while it lasts


@dataclass(frozen=True)
class WatchdogEvent:
    intf: str
    t_ns: int
    paused_since_ns: int
    action: str
    kind: str  # "triggered" or "restored"


Action = SendPause | Gate | WatchdogEvent


@dataclass
class PortState:
    spec: PortSpec
    share_bytes: float = 0.0       # estimated ingress occupancy
    pausing: bool = False          # we told the upstream to pause
    refresh_ns: float = 0.0
    paused_until_ns: float = 0.0   # the downstream told us to pause until
    gated_since_ns: int | None = None
    watchdog_until_ns: float = 0.0  # PAUSE ignored until then
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("xoff_sent", "refresh_sent", "xon_sent", "pause_rx", "resume_rx", "ignored_rx",
         "paused_ns", "max_share_bytes", "watchdog"), 0))


class FabricPfc:
    """PFC state of every switch port. ``enabled=False`` only measures (never pauses)."""

    def __init__(self, ports: Sequence[PortSpec], *, enabled: bool = True,
                 watchdog: Watchdog | None = None) -> None:
        names = [p.intf for p in ports]
        if len(set(names)) != len(names):
            raise FabricTwinError("pfc: a port is listed twice")
        for p in ports:
            if not 0 < p.rate_bps < math.inf or p.xon_bytes < 0 or p.xoff_bytes < p.xon_bytes:
                raise FabricTwinError(f"pfc: port {p.intf}: needs rate > 0 and "
                                      f"0 <= XON <= XOFF (got {p.xon_bytes} / {p.xoff_bytes})")
            if not 0 <= p.alpha < math.inf or (p.alpha and p.shared_bytes <= 0):
                raise FabricTwinError(f"pfc: port {p.intf}: dynamic thresholds need "
                                      f"alpha > 0 and a shared pool > 0 (got {p.alpha:g} / "
                                      f"{p.shared_bytes})")
        self.enabled = enabled
        self.watchdog = watchdog
        self.ports = {p.intf: PortState(p) for p in ports}
        self.by_switch: dict[str, list[PortState]] = {}
        self.used: dict[str, float] = {}  # each switch's lossless backlog at the last poll
        for st in self.ports.values():
            self.by_switch.setdefault(st.spec.switch, []).append(st)
        self.events: list[WatchdogEvent] = []

    # -- pause frames arriving -------------------------------------------------------------
    def on_pause(self, intf: str, quanta: int | None, now: int) -> list[Action]:
        """A PFC frame for the lossless priority arrived on ``intf`` (None: not for it)."""
        st = self.ports.get(intf)
        if st is None or quanta is None:
            return []
        c = st.counters
        c["pause_rx" if quanta else "resume_rx"] += 1
        if not self.enabled or now < st.watchdog_until_ns:
            c["ignored_rx"] += 1
            return []
        if quanta:
            st.paused_until_ns = now + quanta_to_ns(quanta, st.spec.rate_bps)
            if st.gated_since_ns is None:
                st.gated_since_ns = now
                return [Gate(intf, open=False)]
            return []
        st.paused_until_ns = 0.0
        return self._open(st, now)

    def _open(self, st: PortState, now: int) -> list[Action]:
        if st.gated_since_ns is None:
            return []
        st.counters["paused_ns"] += now - st.gated_since_ns
        st.gated_since_ns = None
        return [Gate(st.spec.intf, open=True)]

    # -- periodic ----------------------------------------------------------------------------
    def tick(self, now: int, backlog_bytes: Mapping[str, int],
             rx_bytes: Mapping[str, int]) -> list[Action]:
        """One poll: ``backlog_bytes`` of each port's lossless egress queue now and
        ``rx_bytes`` received by each port since the last poll."""
        actions: list[Action] = []
        for sw, ports in self.by_switch.items():
            self.used[sw] = self._account(ports, backlog_bytes, rx_bytes)
        for st in self.ports.values():
            actions += self._expire(st, now)
            if self.enabled:
                actions += self._decide(st, now)
        return actions

    @staticmethod
    def _account(ports: list[PortState], backlog: Mapping[str, int],
                 rx: Mapping[str, int]) -> int:
        """Update the ports' shares; the switch's backlog."""
        held = sum(backlog.get(st.spec.intf, 0) for st in ports)
        pool = sum(st.share_bytes + rx.get(st.spec.intf, 0) for st in ports)
        scale = held / pool if pool > 0 else 0.0
        for st in ports:
            st.share_bytes = (st.share_bytes + rx.get(st.spec.intf, 0)) * scale
            c = st.counters
            c["max_share_bytes"] = max(c["max_share_bytes"], int(st.share_bytes))
        return held

    def _expire(self, st: PortState, now: int) -> list[Action]:
        out: list[Action] = []
        if st.gated_since_ns is not None:
            wd = self.watchdog
            if now >= st.paused_until_ns:
                out += self._open(st, now)
            elif wd is not None and now - st.gated_since_ns >= wd.detect_ns:
                since = st.gated_since_ns
                st.counters["watchdog"] += 1
                st.watchdog_until_ns = now + wd.restore_ns
                st.paused_until_ns = 0.0
                ev = WatchdogEvent(st.spec.intf, now, since, wd.action, "triggered")
                self.events.append(ev)
                out += [ev, *self._open(st, now)]
                if wd.action == "drop":
                    out.append(Gate(st.spec.intf, open=True, drop=True))
        if st.watchdog_until_ns and now >= st.watchdog_until_ns:
            st.watchdog_until_ns = 0.0
            assert self.watchdog is not None
            ev = WatchdogEvent(st.spec.intf, now, 0, self.watchdog.action, "restored")
            self.events.append(ev)
            out.append(ev)
            if self.watchdog.action == "drop":
                out.append(Gate(st.spec.intf, open=True, drop=False))
        return out

    def _decide(self, st: PortState, now: int) -> list[Action]:
        spec = st.spec
        xoff, xon = spec.thresholds(self.used.get(spec.switch, 0.0))
        if not st.pausing and st.share_bytes > xoff:
            st.pausing = True
            st.counters["xoff_sent"] += 1
            st.refresh_ns = now + quanta_to_ns(MAX_QUANTA, spec.rate_bps) / 2
            return [SendPause(spec.intf, MAX_QUANTA)]
        if st.pausing and st.share_bytes < max(xon, 1):  # XON 0: once empty
            st.pausing = False
            st.counters["xon_sent"] += 1
            return [SendPause(spec.intf, 0)]
        if st.pausing and now >= st.refresh_ns:
            st.counters["refresh_sent"] += 1
            st.refresh_ns = now + quanta_to_ns(MAX_QUANTA, spec.rate_bps) / 2
            return [SendPause(spec.intf, MAX_QUANTA)]
        return []

    def finish(self, now: int) -> None:
        """Close the books: a queue still paused counts its paused time up to ``now``."""
        for st in self.ports.values():
            if st.gated_since_ns is not None:
                st.counters["paused_ns"] += now - st.gated_since_ns
                st.gated_since_ns = now

    def gated(self) -> list[str]:
        return [i for i, st in self.ports.items() if st.gated_since_ns is not None]

    def pausing(self) -> list[str]:
        return [i for i, st in self.ports.items() if st.pausing]
