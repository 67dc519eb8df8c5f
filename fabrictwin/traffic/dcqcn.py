"""DCQCN (Zhu et al., SIGCOMM 2015), pure: the reaction point's rate machine and the
notification point's CNP pacing. Time is passed in (ns); nothing here reads a clock.

Reaction point (sender), per QP, starting at line rate with alpha = 1:

- on a CNP: R_T = R_C; R_C = R_C (1 - alpha/2); alpha = (1 - g) alpha + g; the
  increase counters, the byte counter and both timers restart;
- every K (55 us) without a CNP: alpha = (1 - g) alpha;
- a rate-increase event fires every T (55 us) of the timer and every B (10 MB) sent.
  With t and b the timer and byte events since the last cut (before this one):
  fast recovery while max(t, b) < F: R_C = (R_T + R_C) / 2;
  hyper increase once min(t, b) >= F: R_T += i R_HAI, i = min(t, b) - F + 1;
  additive increase otherwise: R_T += R_AI; then R_C = (R_T + R_C) / 2;
  R_T and R_C never exceed the line rate nor fall below ``min_rate_bps``.

Notification point (receiver): at most one CNP per QP every N (50 us) while CE-marked
frames arrive.

Defaults are the paper's (g = 1/256, K = T = 55 us, B = 10 MB, F = 5, N = 50 us,
R_AI = 40 Mb/s for 40 GbE); R_HAI = 10 R_AI as in QCN. In a time-dilated emulation use
:meth:`DcqcnParams.dilated`: times D times longer, rate steps D times smaller.

Over distance (:meth:`DcqcnParams.for_rtt`): the paper's timers were tuned for a loop of
one CNP interval plus a datacentre round trip of a few us (K = 55 us, just above N =
50 us). Over 10-100 km of DCI the round trip is 0.1-1 ms: with T = 55 us a sender makes
3-19 increases before a CNP about the first can arrive, and with N = 50 us it receives
2-20 CNPs, each a cut, for one queue it has already answered; in a fluid loop that is a
sawtooth between line rate and a fraction of the fair share. The RTT-scaled variant
stretches the timers K and T to the loop (N + RTT), keeps the rate steps per increase
event, so the increase per loop matches the paper's per 55 us (the additive-increase
slope falls as 1/RTT, as TCP's one segment per RTT), scales the byte counter B with the
timers (B is bytes between increases: unscaled, a 400G sender at line rate would still
make 5 increases per 1 ms round trip from bytes alone, 10 MB being 200 us there), and
sends at most one CNP per round trip (N >= RTT), so a sender cuts about once per loop
as DCTCP does once per window. g and F stay: with one alpha update and one increase per
loop the per-loop dynamics are the paper's.

Sources for the reasoning (no code taken): Zhu et al., "Congestion Control for
Large-Scale RDMA Deployments" (SIGCOMM 2015, the parameters) and "ECN or Delay: Lessons
Learnt from Analysis of DCQCN and TIMELY" (CoNEXT 2016: the fluid model, whose stability
depends on the feedback delay against the timers); the Linux mlx5 driver names the
alpha timer ``rp_dce_tcp_rtt`` (drivers/infiniband/hw/mlx5/cong.c), i.e. an RTT;
Saeed et al., "Annulus" (SIGCOMM 2020: long-RTT WAN traffic reacts too slowly for
datacentre bottlenecks); Yan et al., "LRCC: Long-haul RDMA congestion control for
cross-datacenter networks" (Computer Networks 2025: long control loops cannot stop
line-rate bursts; an adaptive rate increase); NVIDIA Spectrum-XGS (Aug 2025: congestion
control "auto-adjusted" to distance, "nearly doubles" NCCL performance across sites).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from fabrictwin.errors import FabricTwinError


@dataclass(frozen=True)
class DcqcnParams:
    g: float = 1 / 256
    alpha_timer_ns: float = 55_000.0          # K
    increase_timer_ns: float = 55_000.0       # T
    byte_counter_bytes: int = 10 * 1000 * 1000  # B
    fast_recovery_steps: int = 5               # F
    rate_ai_bps: float = 40e6                  # R_AI
    rate_hai_bps: float = 400e6                # R_HAI
    min_rate_bps: float = 10e6
    cnp_interval_ns: float = 50_000.0          # N, at the notification point

    def __post_init__(self) -> None:
        if not 0 < self.g <= 1:
            raise FabricTwinError(f"dcqcn: g must be in (0, 1], got {self.g}")
        for key in ("alpha_timer_ns", "increase_timer_ns", "byte_counter_bytes",
                    "fast_recovery_steps", "min_rate_bps"):
            if not getattr(self, key) > 0:
                raise FabricTwinError(f"dcqcn: {key} must be positive, got {getattr(self, key)}")
        if self.rate_ai_bps < 0 or self.rate_hai_bps < 0 or self.cnp_interval_ns < 0:
            raise FabricTwinError("dcqcn: rate steps and CNP interval must not be negative")

    def for_line_rate(self, line_rate_bps: float, reference_bps: float = 40e9) -> DcqcnParams:
        """The rate steps (R_AI, R_HAI, minimum rate) in proportion to the line rate: the
        paper's are for 40 GbE, and unscaled they recover a 400G NIC ten times slower."""
        if not line_rate_bps > 0:
            raise FabricTwinError(f"dcqcn: line rate must be positive, got {line_rate_bps}")
        k = line_rate_bps / reference_bps
        return replace(self, rate_ai_bps=self.rate_ai_bps * k, rate_hai_bps=self.rate_hai_bps * k,
                       min_rate_bps=self.min_rate_bps * k)

    def for_rtt(self, rtt_ns: float) -> DcqcnParams:
        """The controller for a path whose round trip is ``rtt_ns`` (in the timers' time:
        hardware ns, or emulated ns after :meth:`dilated`): K and T stretched to the
        feedback loop N + RTT when that is longer than T, the byte counter with them, and
        at most one CNP per round trip. Apply it once, to datacentre parameters.

        >>> p = DcqcnParams().for_rtt(106_000)   # 10 km of zr400, both ways
        >>> p.increase_timer_ns, p.alpha_timer_ns, p.cnp_interval_ns, p.byte_counter_bytes
        (156000.0, 156000.0, 106000.0, 28363636)
        >>> DcqcnParams().for_rtt(2_000) == DcqcnParams()   # inside a datacentre
        True
        """
        number = isinstance(rtt_ns, int | float) and not isinstance(rtt_ns, bool)
        if not number or not math.isfinite(rtt_ns) or rtt_ns < 0:
            raise FabricTwinError(f"dcqcn: rtt_ns must be a finite non-negative number, "
                                  f"got {rtt_ns!r}")
        loop = self.cnp_interval_ns + rtt_ns  # the longest a sender waits to hear of a mark
        if loop <= self.increase_timer_ns:
            return self
        # x * loop / T rather than x * (loop / T): exact when x == T, as by default
        return replace(self, alpha_timer_ns=self.alpha_timer_ns * loop / self.increase_timer_ns,
                       increase_timer_ns=loop,
                       byte_counter_bytes=round(self.byte_counter_bytes * loop
                                                / self.increase_timer_ns),
                       cnp_interval_ns=max(self.cnp_interval_ns, float(rtt_ns)))

    def dilated(self, factor: float) -> DcqcnParams:
        """The same controller for a fabric slowed down ``factor`` times."""
        return replace(self, alpha_timer_ns=self.alpha_timer_ns * factor,
                       increase_timer_ns=self.increase_timer_ns * factor,
                       rate_ai_bps=self.rate_ai_bps / factor,
                       rate_hai_bps=self.rate_hai_bps / factor,
                       min_rate_bps=self.min_rate_bps / factor,
                       cnp_interval_ns=self.cnp_interval_ns * factor)


def _standard(line_rate_bps: float, rtt_ns: float) -> DcqcnParams:
    """DCQCN with the paper's timers; rate steps in proportion to the line rate."""
    return DcqcnParams().for_line_rate(line_rate_bps)


def _rtt_scaled(line_rate_bps: float, rtt_ns: float) -> DcqcnParams:
    """DCQCN with timers, byte counter and CNP interval scaled to the path's round trip."""
    return DcqcnParams().for_line_rate(line_rate_bps).for_rtt(rtt_ns)


#: Congestion control variants by the name a command line gives them.
CC_VARIANTS: Mapping[str, Callable[[float, float], DcqcnParams]] = MappingProxyType({
    "dcqcn": _standard,
    "dcqcn-rtt": _rtt_scaled,
})


def cc_params(name: str, line_rate_bps: float, rtt_ns: float) -> DcqcnParams:
    """The parameters of variant ``name`` for a sender at ``line_rate_bps`` on a path of
    round trip ``rtt_ns`` (hardware time: call :meth:`DcqcnParams.dilated` after).

    >>> cc_params("dcqcn-rtt", 400e9, 988_000).increase_timer_ns   # 100 km of zr400
    1038000.0
    >>> cc_params("dcqcn", 400e9, 988_000).increase_timer_ns
    55000.0
    """
    make = CC_VARIANTS.get(name)
    if make is None:
        raise FabricTwinError(f"cc: unknown congestion control {name!r} "
                              f"(known: {', '.join(CC_VARIANTS)})")
    return make(line_rate_bps, rtt_ns)


class DcqcnRate:
    """The reaction point of one QP. Call :meth:`advance` (or any event) with the time."""

    def __init__(self, line_rate_bps: float, params: DcqcnParams | None = None,
                 now_ns: float = 0.0) -> None:
        if not line_rate_bps > 0:
            raise FabricTwinError(f"dcqcn: line rate must be positive, got {line_rate_bps}")
        self.p = params or DcqcnParams()
        self.line = float(line_rate_bps)
        self.rc = self.rt = self.line
        self.alpha = 1.0
        self.timer_events = self.byte_events = 0
        self.byte_acc = 0
        self.cuts = 0
        self.min_seen_bps = self.line
        self.now = now_ns
        self.next_alpha_ns = now_ns + self.p.alpha_timer_ns
        self.next_increase_ns = now_ns + self.p.increase_timer_ns

    @property
    def rate_bps(self) -> float:
        return self.rc

    def on_cnp(self, now_ns: float) -> None:
        self.advance(now_ns)
        self.rt = self.rc
        self.rc = max(self.p.min_rate_bps, self.rc * (1 - self.alpha / 2))
        self.alpha = (1 - self.p.g) * self.alpha + self.p.g
        self.timer_events = self.byte_events = self.byte_acc = 0
        self.next_alpha_ns = now_ns + self.p.alpha_timer_ns
        self.next_increase_ns = now_ns + self.p.increase_timer_ns
        self.cuts += 1
        self.min_seen_bps = min(self.min_seen_bps, self.rc)

    def on_sent(self, size_bytes: int, now_ns: float) -> None:
        self.advance(now_ns)
        self.byte_acc += size_bytes
        while self.byte_acc >= self.p.byte_counter_bytes:
            self.byte_acc -= self.p.byte_counter_bytes
            self._increase()
            self.byte_events += 1

    def advance(self, now_ns: float) -> None:
        """Fire the alpha and increase timers due up to ``now_ns``, in time order
        (a time earlier than one already seen changes nothing)."""
        if now_ns <= self.now:
            return
        self.now = now_ns
        p = self.p
        while min(self.next_alpha_ns, self.next_increase_ns) <= now_ns:
            if self.rc >= self.line:
                # At line rate increases change nothing: jump over the events in closed form.
                k_alpha = int((now_ns - self.next_alpha_ns) // p.alpha_timer_ns) + 1
                k_inc = int((now_ns - self.next_increase_ns) // p.increase_timer_ns) + 1
                if k_alpha > 0:
                    self.alpha *= (1 - p.g) ** k_alpha
                    self.next_alpha_ns += k_alpha * p.alpha_timer_ns
                if k_inc > 0:
                    self.timer_events += k_inc
                    self.next_increase_ns += k_inc * p.increase_timer_ns
                break
            if self.next_alpha_ns <= self.next_increase_ns:
                self.alpha *= 1 - p.g
                self.next_alpha_ns += p.alpha_timer_ns
            else:
                self._increase()
                self.timer_events += 1
                self.next_increase_ns += p.increase_timer_ns

    def _increase(self) -> None:
        t, b, f = self.timer_events, self.byte_events, self.p.fast_recovery_steps
        if max(t, b) < f:
            pass  # fast recovery: back towards the rate before the cut
        elif min(t, b) >= f:
            self.rt += (min(t, b) - f + 1) * self.p.rate_hai_bps
        else:
            self.rt += self.p.rate_ai_bps
        self.rt = min(self.rt, self.line)
        self.rc = min(self.line, max(self.p.min_rate_bps, (self.rt + self.rc) / 2))


class CnpPacer:
    """Notification point: whether a CE-marked frame of a QP should trigger a CNP now."""

    def __init__(self, interval_ns: float) -> None:
        self.interval_ns = interval_ns
        self.last: dict[int, float] = {}

    def should_send(self, qpn: int, now_ns: float) -> bool:
        last = self.last.get(qpn)
        if last is not None and now_ns - last < self.interval_ns:
            return False
        self.last[qpn] = now_ns
        return True
