"""Queue pairs of the agent: a sending QP per outgoing transfer, a receiving QP per incoming.

A :class:`SendQp` paces its :class:`~fabrictwin.traffic.fastpath.WriteStream` with a token
bucket whose rate DCQCN sets, and lets go-back-N pick the packet. A :class:`RecvQp`
validates each frame against the transfer's layout, accepts in order, accumulates a CRC
of the accepted payload and answers with ACK, NAK and (for CE-marked frames, paced)
CNP frames. Both keep their own counters; the agent sums them.
"""

from __future__ import annotations

import errno
import socket
import struct
import zlib
from dataclasses import dataclass, field

from fabrictwin.protocols.roce import (
    AETH_ACK,
    AETH_NAK_PSN_SEQ,
    BTH_LEN,
    ETH_LEN,
    ICRC_LEN,
    IP_LEN,
    PSN_MASK,
    RC_RDMA_WRITE_LAST,
    RC_RDMA_WRITE_ONLY,
    RETH_OPCODES,
    UDP_LEN,
)
from fabrictwin.traffic.dcqcn import CnpPacer, DcqcnParams, DcqcnRate
from fabrictwin.traffic.fastpath import (
    ControlFrames,
    Endpoint,
    Layout,
    WriteStream,
    first_psn,
    pattern_crc,
    remote_va,
)
from fabrictwin.traffic.pause import PauseState
from fabrictwin.traffic.reliability import (
    ACCEPT,
    GoBackNReceiver,
    GoBackNSender,
    TokenBucket,
)

BTH_OFF = ETH_LEN + IP_LEN + UDP_LEN
RETH_OFF = BTH_OFF + BTH_LEN
_BUSY = (errno.EAGAIN, errno.ENOBUFS)  # the socket buffer or the qdisc is full: retry later
#: After a full queue refused a frame, wait this long before trying again: the qdisc holds
#: many frames, so the link does not idle, and the agent does not spin on the error.
BUSY_BACKOFF_NS = 100_000
FRAME_OVERHEAD = 68  # Ethernet, IP, UDP, BTH, RETH and ICRC around a payload


@dataclass
class SendOptions:
    window: int = 256            # packets in flight
    ack_every: int = 16          # ackreq on every n-th packet (and the last)
    rto_ns: float = 5e6
    #: with a rate, each QP's timeout also covers its own first window draining at it
    #: (twice): a small transfer is not given a big window's timeout
    drain_bps: float | None = None
    rate_bps: float | None = None  # per-QP cap; None: no pacing unless DCQCN is on
    line_rate_bps: float = 1e9     # DCQCN's starting and maximal rate
    dcqcn: DcqcnParams | None = None
    burst_bytes: float = 16 * 1024


@dataclass
class SendQp:
    """One outgoing transfer on the wire."""

    tid: int
    dst: int
    stream: WriteStream
    sock: socket.socket
    opts: SendOptions
    deps: set[int] = field(default_factory=set)
    delay_ns: float = 0.0  # endpoint cost paid between ready and the first frame
    ready_ns: int = 0
    start_ns: int = 0
    finish_ns: int = 0
    frames: int = 0
    bytes: int = 0
    blocked: int = 0
    cnps: int = 0

    def __post_init__(self) -> None:
        o = self.opts
        self.n = self.stream.layout.n_packets
        rto = o.rto_ns
        if o.drain_bps:
            frame_bits = (self.stream.layout.pmtu + FRAME_OVERHEAD) * 8
            rto += 2 * min(o.window, self.n) * frame_bits / o.drain_bps * 1e9
        # backing off 8x at most: a broken path is found (stall_timeouts) within seconds
        self.gbn = GoBackNSender(self.n, o.window, rto, max_rto_ns=8 * rto)
        self.dcqcn: DcqcnRate | None = None
        self.bucket: TokenBucket | None = None
        self.busy_until = 0
        self.pause = PauseState(0, 1.0)  # its NIC's PFC state: the agent shares its own

    def start(self, now: int) -> None:
        o = self.opts
        self.ready_ns = now
        self.busy_until = now + int(self.delay_ns)
        if o.dcqcn is not None:
            self.dcqcn = DcqcnRate(o.line_rate_bps, o.dcqcn, now)
        rates = [r for r in (o.rate_bps, self.dcqcn.rate_bps if self.dcqcn else None) if r]
        if rates:
            self.bucket = TokenBucket(min(rates), o.burst_bytes, now)

    @property
    def done(self) -> bool:
        return self.gbn.done

    def pump(self, now: int, budget: int) -> int:
        """Send up to ``budget`` frames the window and the bucket allow; frames sent."""
        gbn, bucket = self.gbn, self.bucket
        first = gbn.nxt
        room = min(budget, gbn.n - first, gbn.window - (first - gbn.una))
        credit = float("inf")
        if bucket is not None:
            bucket.refill(now)
            credit = bucket.tokens
        if room <= 0 or credit <= 0 or now < self.busy_until:
            return 0
        frame, send = self.stream.frame, self.sock.send
        every, last, edge = self.opts.ack_every, self.n - 1, gbn.una + gbn.window - 1
        nbytes = 0
        i = first
        for i in range(first, first + room):
            buf = frame(i, i in (last, edge) or i % every == every - 1)  # as gbn.wants_ack
            try:
                send(buf)
            except OSError as e:
                if e.errno not in _BUSY:
                    raise
                self.blocked += 1
                self.busy_until = now + BUSY_BACKOFF_NS
                i -= 1
                break
            nbytes += len(buf)
            if nbytes >= credit:
                break
        sent = i + 1 - first
        if sent:
            gbn.take_many(sent, now)
            if bucket is not None:
                bucket.tokens -= nbytes
            if not self.start_ns:
                self.start_ns = now
            self.frames += sent
            self.bytes += nbytes
            if self.dcqcn is not None:
                self.dcqcn.on_sent(nbytes, now)
        return sent

    def tick(self, now: int) -> bool:
        """Timers: retransmission timeout, DCQCN rate (fed to the bucket); True when the
        retransmission timer expired."""
        expired = self.gbn.check_timeout(now, fruitless=not self.pause.paused(now))
        if self.dcqcn is not None and self.bucket is not None:
            self.dcqcn.advance(now)
            rate = self.dcqcn.rate_bps
            if self.opts.rate_bps:
                rate = min(rate, self.opts.rate_bps)
            if rate != self.bucket.rate_bps:
                self.bucket.set_rate(rate, now)
        return expired

    def on_ack(self, psn: int, syndrome: int, now: int) -> None:
        index = (psn - self.stream.psn0) & PSN_MASK
        if syndrome >> 5 == 3:  # NAK: the index is the packet the receiver expects
            self.gbn.on_nak(index, now)
        elif syndrome >> 5 == 0:
            self.gbn.on_ack(index, now)
        if self.gbn.done and not self.finish_ns:
            self.finish_ns = now

    def on_cnp(self, now: int) -> None:
        self.cnps += 1
        if self.dcqcn is not None:
            self.dcqcn.on_cnp(now)
            self.tick(now)

    def wake_ns(self, now: int) -> float | None:
        """When this QP next needs attention without a frame arriving (None: only on rx)."""
        times = []
        if self.gbn.deadline is not None:
            times.append(self.gbn.deadline)
        if self.gbn.can_send():
            ready = now if self.bucket is None else now + self.bucket.wait_ns(now)
            times.append(max(ready, self.busy_until))
        return min(times) if times else None

    def result(self) -> dict[str, object]:
        g = self.gbn
        out: dict[str, object] = {
            "id": self.tid, "dst": self.dst, "size_bytes": self.stream.layout.size_bytes,
            "packets": self.n, "ready_ns": self.ready_ns, "start_ns": self.start_ns,
            "finish_ns": self.finish_ns, "done": self.done, "frames_sent": self.frames,
            "retransmits": g.retransmits, "timeouts": g.timeouts, "naks_received": g.naks,
            "cnps_received": self.cnps, "srtt_ns": g.srtt, "rto_ns": g.base_rto}
        if self.dcqcn is not None:
            out["dcqcn"] = {"rate_cuts": self.dcqcn.cuts, "min_rate_bps": self.dcqcn.min_seen_bps,
                            "final_rate_bps": self.dcqcn.rate_bps, "alpha": self.dcqcn.alpha}
        return out


class RecvQp:
    """One incoming transfer: checks, in-order acceptance, replies, payload CRC."""

    def __init__(self, tid: int, src: int, layout: Layout, sock: socket.socket,
                 me: Endpoint, peer: Endpoint, ack_every: int, pacer: CnpPacer) -> None:
        self.tid, self.src, self.layout, self.sock = tid, src, layout, sock
        self.psn0, self.va0 = first_psn(tid), remote_va(tid)
        self.gbn = GoBackNReceiver(layout.n_packets, ack_every)
        self.ctl = ControlFrames(tid, me, peer)
        self.pacer = pacer
        self.crc = 0
        self.bytes = self.msn = 0
        self.start_ns = self.finish_ns = 0
        self.ecn_marked = self.cnps = self.acks = self.naks = self.bad = 0
        #: the latest ACK/NAK the full qdisc refused, resent by :meth:`flush`. Only the
        #: latest matters (ACKs are cumulative); dropping it instead left the sender to
        #: time out, after this receiver had perhaps already exited.
        self.pending: bytes | None = None
        self.busy_until = 0  # no reply tried before this once one was refused

    @property
    def done(self) -> bool:
        return self.gbn.done

    def _valid(self, frame: memoryview, index: int) -> int:
        """Payload length if the frame is what packet ``index`` must be, else -1."""
        if index >= self.layout.n_packets:
            return -1
        op, length, m = self.layout.packet(index)
        if frame[BTH_OFF] != op:
            return -1
        pad = (frame[BTH_OFF + 1] >> 4) & 3
        off = RETH_OFF + (16 if op in RETH_OPCODES else 0)
        if len(frame) - off - ICRC_LEN - pad != length:
            return -1
        if op in RETH_OPCODES:
            va, _, dlen = struct.unpack_from(">QII", frame, RETH_OFF)
            if va != self.va0 + m * self.layout.message_bytes or dlen != self.layout.message_len(m):
                return -1
        return length

    def on_data(self, frame: memoryview, psn: int, ackreq: bool, ce: bool, now: int) -> str:
        """Handle a WRITE frame whose ICRC was checked; returns the go-back-N verdict."""
        if ce:
            self.ecn_marked += 1
            # a CNP the full qdisc refuses is lost, as one dropped on a wire would be
            if self.pacer.should_send(self.tid, now) and self._reply(self.ctl.cnp):
                self.cnps += 1
        index = (psn - self.psn0) & PSN_MASK
        length = -1
        if index == self.gbn.expected:
            length = self._valid(frame, index)
            if length < 0:
                self.bad += 1  # malformed for this QP: drop it as a NIC would
                return "bad"
        verdict, reply = self.gbn.on_packet(index, ackreq)
        if verdict == ACCEPT:
            if not self.start_ns:
                self.start_ns = now
            off = len(frame) - ICRC_LEN - ((frame[BTH_OFF + 1] >> 4) & 3) - length
            self.crc = zlib.crc32(frame[off:off + length], self.crc)
            self.bytes += length
            if frame[BTH_OFF] in (RC_RDMA_WRITE_LAST, RC_RDMA_WRITE_ONLY):
                self.msn += 1  # a message completed
            if self.done:
                self.finish_ns = now
        if reply is not None:
            if reply.nak:
                self.naks += 1
                frame = self.ctl.ack(reply.index, AETH_NAK_PSN_SEQ, self.msn)
            else:
                self.acks += 1
                frame = self.ctl.ack(reply.index, AETH_ACK, self.msn)
            # a newer reply supersedes a refused one; while refused, wait before trying
            if now >= self.busy_until:
                if self._reply(frame):
                    self.pending = None
                    return verdict
                self.busy_until = now + BUSY_BACKOFF_NS
            self.pending = bytes(frame)
        return verdict

    def flush(self, now: int) -> bool:
        """Send the pending reply unless the queue refused one moments ago; True once
        nothing is pending."""
        if self.pending is not None and now >= self.busy_until:
            if self._reply(self.pending):
                self.pending = None
            else:
                self.busy_until = now + BUSY_BACKOFF_NS
        return self.pending is None

    def _reply(self, frame: bytes | bytearray) -> bool:
        """Send a control frame; False if the socket or qdisc is full."""
        try:
            self.sock.send(frame)
        except OSError as e:
            if e.errno not in _BUSY:
                raise
            return False
        return True

    def result(self) -> dict[str, object]:
        size = self.layout.size_bytes
        return {"id": self.tid, "src": self.src, "size_bytes": size,
                "start_ns": self.start_ns, "finish_ns": self.finish_ns, "done": self.done,
                "bytes_received": self.bytes,
                "data_ok": self.done and self.bytes == size and
                self.crc == pattern_crc(self.tid, size),
                "psn_errors": self.gbn.out_of_order, "duplicates": self.gbn.duplicates,
                "ecn_marked": self.ecn_marked, "cnps_sent": self.cnps, "acks_sent": self.acks,
                "naks_sent": self.naks, "malformed": self.bad}
