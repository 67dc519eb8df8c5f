"""RC-style reliability and pacing, pure: go-back-N sender and receiver, token bucket.

Packets of a message are numbered 0..n-1 (the PSN is the first PSN plus the index,
modulo 2^24). The receiver accepts only the packet it expects next. A gap makes it
send one NAK (PSN sequence error) naming the packet it expects; the sender goes back
and resends from there. ACKs are cumulative and coalesced: the receiver acknowledges
when asked (the BTH ackreq bit), at the last packet, and every ``ack_every`` packets.
A lost NAK or ACK is covered by the sender's retransmission timeout, which doubles on
each expiry without progress (up to ``max_rto_ns``) and resets on progress. The
timeout adapts to the round trips measured (RFC 6298: smoothed RTT + 4 x its
variation, never below ``rto_ns``; Karn's rule: no sample from a resent packet), so a
queue that several senders fill at once is not mistaken for loss: a fixed timeout
resent whole windows that were only queued (tree all-reduce on a hyper-node: 10,000
resends, no frame lost). Time is passed in (ns).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrictwin.errors import FabricTwinError

ACCEPT, DUPLICATE, OUT_OF_ORDER = "accept", "duplicate", "out_of_order"


class GoBackNSender:
    """Which packet index to send next, given ACKs, NAKs and the retransmission timer."""

    def __init__(self, n_packets: int, window: int, rto_ns: float,
                 max_rto_ns: float | None = None) -> None:
        if n_packets < 1 or window < 1 or not rto_ns > 0:
            raise FabricTwinError("go-back-N: needs >= 1 packet, window >= 1, rto > 0")
        self.n, self.window = n_packets, window
        self.base_rto = self.rto = self.min_rto = rto_ns
        self.max_rto = max_rto_ns or 64 * rto_ns
        self.srtt: float | None = None  # smoothed round trip (RFC 6298)
        self.rttvar = 0.0
        self._sent_ns = [0.0] * n_packets  # when each packet was last sent
        self._resent = bytearray(n_packets)  # sent more than once: no RTT sample (Karn)
        self.una = 0   # oldest packet not acknowledged
        self.nxt = 0   # next packet to send
        self.high = 0  # one past the highest packet ever sent
        self.deadline: float | None = None
        self.retransmits = self.timeouts = self.naks = 0
        self.fruitless = 0  # timeouts in a row with no progress: a stuck path
        self._last_nak = -1

    @property
    def done(self) -> bool:
        return self.una >= self.n

    def wants_ack(self, index: int, ack_every: int) -> bool:
        """Whether packet ``index`` should carry the ackreq bit: the last packet, every
        ``ack_every``-th, and the one that fills the window (else the sender would stall
        until its timeout whenever the window is smaller than the receiver's ACK stride)."""
        return index == self.n - 1 or index % ack_every == ack_every - 1 or \
            index - self.una + 1 >= self.window

    def can_send(self) -> bool:
        return self.nxt < self.n and self.nxt - self.una < self.window

    def take(self, now_ns: float) -> int:
        """The index to send now (call only when :meth:`can_send`); arms the timer."""
        i = self.nxt
        self.nxt += 1
        self._sent_ns[i] = now_ns
        if i < self.high:
            self.retransmits += 1
            self._resent[i] = 1
        else:
            self.high = i + 1
        if self.deadline is None:
            self.deadline = now_ns + self.rto
        return i

    def take_many(self, count: int, now_ns: float) -> None:
        """:meth:`take` ``count`` times (the fast path sends a batch, then accounts for it)."""
        start, self.nxt = self.nxt, self.nxt + count
        resent = max(0, min(self.nxt, self.high) - start)
        self.retransmits += resent
        if resent:
            self._resent[start:start + resent] = b"\x01" * resent
        self._sent_ns[start:self.nxt] = [now_ns] * count
        self.high = max(self.high, self.nxt)
        if self.deadline is None and count > 0:
            self.deadline = now_ns + self.rto

    def on_ack(self, index: int, now_ns: float) -> bool:
        """Cumulative ACK of packets 0..index; True when it made progress."""
        if index < self.una or index >= self.high:
            return False  # stale, or a packet never sent: ignore
        self.una = index + 1
        self.nxt = max(self.nxt, self.una)
        if not self._resent[index]:
            self._sample(now_ns - self._sent_ns[index])
        self.rto = self.base_rto
        self.fruitless = 0
        self.deadline = None if self.una >= self.nxt else now_ns + self.rto
        return True

    def on_nak(self, index: int, now_ns: float) -> None:
        """The receiver expects ``index``: all before it arrived; resend from it."""
        if index < self.una or index > self.high or index == self._last_nak:
            return
        self._last_nak = index
        self.naks += 1
        if index > self.una:
            self.on_ack(index - 1, now_ns)
        self._ambiguous()
        self.nxt = index
        self.deadline = now_ns + self.rto

    def _ambiguous(self) -> None:
        """Going back: every packet in flight may now be acknowledged for either sending."""
        if self.high > self.una:
            self._resent[self.una:self.high] = b"\x01" * (self.high - self.una)

    def _sample(self, rtt_ns: float) -> None:
        """One round-trip measurement: RFC 6298's estimator sets the base timeout."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_ns, rtt_ns / 2
        else:
            self.rttvar += (abs(self.srtt - rtt_ns) - self.rttvar) / 4
            self.srtt += (rtt_ns - self.srtt) / 8
        self.base_rto = min(self.max_rto, max(self.min_rto, self.srtt + 4 * self.rttvar))

    def check_timeout(self, now_ns: float, fruitless: bool = True) -> bool:
        """Go back to the oldest unacknowledged packet when the timer expired.

        ``fruitless``: whether the expiry counts towards :attr:`fruitless` (not when the
        sender was told to wait, e.g. paused by PFC)."""
        if self.deadline is None or now_ns < self.deadline or self.done:
            return False
        self.timeouts += 1
        self.fruitless += fruitless
        self._ambiguous()
        self.nxt = self.una
        self._last_nak = -1
        self.rto = min(self.rto * 2, self.max_rto)
        self.deadline = now_ns + self.rto
        return True


@dataclass
class Reply:
    """What the receiver answers: an ACK of ``index`` or a NAK expecting ``index``."""

    nak: bool
    index: int


class GoBackNReceiver:
    """In-order acceptance with coalesced ACKs and one NAK per gap."""

    def __init__(self, n_packets: int, ack_every: int = 16) -> None:
        if n_packets < 1 or ack_every < 1:
            raise FabricTwinError("go-back-N receiver: needs >= 1 packet, ack_every >= 1")
        self.n, self.ack_every = n_packets, ack_every
        self.expected = 0
        self.last_acked = -1
        self.nak_pending = False
        self.dup_acked = False
        self.out_of_order = self.duplicates = 0

    @property
    def done(self) -> bool:
        return self.expected >= self.n

    def on_packet(self, index: int, ackreq: bool = False) -> tuple[str, Reply | None]:
        if index == self.expected:
            self.expected += 1
            self.nak_pending = self.dup_acked = False
            if ackreq or self.done or self.expected - 1 - self.last_acked >= self.ack_every:
                self.last_acked = index
                return ACCEPT, Reply(False, index)
            return ACCEPT, None
        if index < self.expected:
            # a resend of what we have: re-ACK so a sender that lost our ACK moves on
            self.duplicates += 1
            if ackreq or not self.dup_acked:
                self.dup_acked = True
                self.last_acked = self.expected - 1
                return DUPLICATE, Reply(False, self.expected - 1)
            return DUPLICATE, None
        self.out_of_order += 1
        if not self.nak_pending:
            self.nak_pending = True
            return OUT_OF_ORDER, Reply(True, self.expected)
        return OUT_OF_ORDER, None


class TokenBucket:
    """Pacing at ``rate_bps`` with ``burst_bytes`` of credit; may go into debt by one frame."""

    def __init__(self, rate_bps: float, burst_bytes: float, now_ns: float = 0.0) -> None:
        if not rate_bps > 0 or not burst_bytes > 0:
            raise FabricTwinError("token bucket: rate and burst must be positive")
        self.rate_bps, self.burst = rate_bps, float(burst_bytes)
        self.tokens = self.burst
        self.last = now_ns

    def refill(self, now_ns: float) -> None:
        if now_ns > self.last:
            self.tokens = min(self.burst, self.tokens + (now_ns - self.last) * self.rate_bps / 8e9)
            self.last = now_ns

    def set_rate(self, rate_bps: float, now_ns: float) -> None:
        self.refill(now_ns)
        self.rate_bps = max(rate_bps, 1.0)

    def ready(self, now_ns: float) -> bool:
        self.refill(now_ns)
        return self.tokens > 0

    def consume(self, size_bytes: int) -> None:
        self.tokens -= size_bytes

    def wait_ns(self, now_ns: float) -> float:
        """How long until :meth:`ready` (0 when ready now)."""
        self.refill(now_ns)
        return 0.0 if self.tokens > 0 else (-self.tokens + 1) * 8e9 / self.rate_bps
