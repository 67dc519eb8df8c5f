"""What PFC frames told an endpoint: pure, time passed in (monotonic ns).

A PAUSE for the endpoint's lossless priority stops its data until quanta x 512 bit
times at its link's rate have passed (the dilated rate in an emulation, so pauses
stretch with the dilation) or a resume (quanta 0) arrives; each new PAUSE restarts it.
"""

from __future__ import annotations

from fabrictwin.protocols.pfc import parse_pause, quanta_to_ns


class PauseState:
    def __init__(self, priority: int, rate_bps: float) -> None:
        self.priority, self.rate_bps = priority, rate_bps
        self.until = 0.0  # no data before this
        self._from = 0.0  # when the pause in force began
        self.pauses = self.resumes = 0
        self.paused_ns = 0

    def on_frame(self, frame: bytes | memoryview, now: int) -> None:
        """A MAC control frame arrived (others and other priorities are ignored)."""
        quanta = (parse_pause(frame) or {}).get(self.priority)
        if quanta is None:
            return
        self._close(now)
        if quanta:
            self.pauses += 1
            self.until = now + quanta_to_ns(quanta, self.rate_bps)
        else:
            self.resumes += 1
            self.until = 0.0

    def _close(self, now: float) -> None:
        """Count the pause in force so far, up to ``now``, and start counting afresh."""
        if self.until > self._from:
            self.paused_ns += int(max(0.0, min(now, self.until) - self._from))
        self._from = now

    def paused(self, now: float) -> bool:
        return now < self.until

    def counters(self, end: float) -> dict[str, int]:
        """``pfc_pauses``, ``pfc_resumes``, ``pfc_paused_ns`` up to ``end``."""
        self._close(end)
        self._from = max(self._from, self.until)
        return {"pfc_pauses": self.pauses, "pfc_resumes": self.resumes,
                "pfc_paused_ns": self.paused_ns}


class NicPauses:
    """One :class:`PauseState` per NIC: a PAUSE stops what leaves the port it came in on."""

    def __init__(self, interfaces: list[str], priority: int, rate_bps: float) -> None:
        self.nics = {i: PauseState(priority, rate_bps) for i in interfaces}
        self.first = interfaces[0] if interfaces else ""

    def on_frame(self, intf: str | None, frame: bytes | memoryview, now: int) -> None:
        self.nics[intf or self.first].on_frame(frame, now)

    @property
    def latest(self) -> float:
        """When the last pause in force ends."""
        return max((p.until for p in self.nics.values()), default=0.0)

    def counters(self, end: float) -> dict[str, object]:
        """The counters summed over the NICs (``pfc_paused_ns`` in NIC-ns), and in
        ``pfc_by_interface`` those of every NIC paused at all."""
        per = {i: p.counters(end) for i, p in self.nics.items()}
        out: dict[str, object] = {k: sum(c[k] for c in per.values())
                                  for k in ("pfc_pauses", "pfc_resumes", "pfc_paused_ns")}
        out["pfc_by_interface"] = {i: c for i, c in per.items() if c["pfc_pauses"]}
        return out
