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
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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

    def dilated(self, factor: float) -> DcqcnParams:
        """The same controller for a fabric slowed down ``factor`` times."""
        return replace(self, alpha_timer_ns=self.alpha_timer_ns * factor,
                       increase_timer_ns=self.increase_timer_ns * factor,
                       rate_ai_bps=self.rate_ai_bps / factor,
                       rate_hai_bps=self.rate_hai_bps / factor,
                       min_rate_bps=self.min_rate_bps / factor,
                       cnp_interval_ns=self.cnp_interval_ns * factor)


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
