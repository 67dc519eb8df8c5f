"""The endpoint agent of one emulated host: sends and receives its part of a schedule.

    python -m fabrictwin.traffic.agent --config FILE.json [--result OUT.json]

It opens a raw socket per interface, builds every frame template up front, waits for
``start_at_ns`` (CLOCK_MONOTONIC, shared by all namespaces of the machine), then runs
one loop: drain received frames (data -> receive QPs, ACK/NAK and CNP -> send QPs),
fire timers, and let each active send QP send a batch. A send starts when the
receives it depends on have completed here, so agents coordinate through the data
alone. When everything is done it lingers (re-acknowledging resent frames whose ACK
was lost) until those it receives from are done too (``done_dir``, see
:mod:`~fabrictwin.traffic.done`) or ``linger_s`` has passed, writes its result JSON and
exits 0; on timeout or SIGTERM it writes what it has and exits 1. Bad configuration:
one line on stderr, exit 2.

The result: ``ok``, ``start_ns``/``end_ns`` (monotonic), ``bytes_sent`` (of completed
sends), ``wire_bytes_sent`` (frames, resends included), ``bytes_received`` (payload
accepted in order), counters (``frames_sent``, ``retransmits``, ``timeouts``, ``naks_*``,
``acks_sent``, ``acks_received`` (ACKs and NAKs), ``cnps_sent``/``cnps_received``,
``ecn_marked``, ``psn_errors`` (out-of-order arrivals), ``duplicates``, ``icrc_errors``,
``malformed``, ``tx_blocked``, ``injected_drops``, ``pfc_pauses``/``pfc_resumes``/
``pfc_paused_ns`` (PFC frames obeyed, summed over the NICs, each NIC paused on its own;
per NIC in ``pfc_by_interface``)), ``samples`` (with ``sample_ms``: [time, transfer,
bytes sent, rate] rows), ``stalled`` (sends given up on after ``stall_timeouts``
retransmission timeouts in a row with no progress: id, dst, interface), and per
transfer in ``sends`` and ``recvs``: ready/start/finish
times, counters, ``data_ok`` (CRC of the bytes received matches the bytes sent) and,
with DCQCN on, the rate machine's cuts and rates.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import struct
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.protocols.roce import (
    BTH_LEN,
    CNP_OPCODE,
    DATA_OVERHEAD,
    ECN_CE,
    ETH_LEN,
    PSN_MASK,
    RC_ACK,
    WRITE_OPCODES,
    icrc_ok,
)
from fabrictwin.traffic.config import AgentConfig
from fabrictwin.traffic.dcqcn import CnpPacer, DcqcnParams
from fabrictwin.traffic.done import DoneMarks
from fabrictwin.traffic.fastpath import (
    Endpoint,
    Layout,
    WriteStream,
    open_port,
    qpn_of,
    quiet_kernel_udp,
)
from fabrictwin.traffic.pause import NicPauses
from fabrictwin.traffic.qp import BTH_OFF, RecvQp, SendOptions, SendQp

log = logging.getLogger(__name__)

TX_BATCH = 32  # frames per QP per turn: fairness between QPs vs loop overhead
RX_BATCH = 256
MAX_FRAME = 65536
IDLE_WAIT_S = 0.05


class Agent:
    """One host's agent: :meth:`open` (or :meth:`attach`), :meth:`run`, :meth:`result`.

    :meth:`handle`, :meth:`turn` and :meth:`begin` take the time as an argument, so two
    agents can also be driven in simulated time over fake sockets (the unit tests do).
    """

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.clock = time.monotonic_ns
        self.me = Endpoint(cfg.mac, cfg.ip)
        self.my_ip = socket.inet_aton(cfg.ip)
        self.socks: dict[str, Any] = {}
        self.quiet: socket.socket | None = None
        self.send_qps: dict[int, SendQp] = {}   # by QPN
        self.recv_qps: dict[int, RecvQp] = {}   # by QPN
        self.waiting: dict[int, list[SendQp]] = {}  # receive id -> sends waiting on it
        self.active: list[SendQp] = []
        self.unsent: list[RecvQp] = []  # receive QPs holding a reply the qdisc refused
        self.counts = {"frames_received": 0, "icrc_errors": 0, "unknown_qp": 0,
                       "injected_drops": 0, "acks_received": 0}
        self.pauses = NicPauses(list(cfg.interfaces), cfg.pfc_priority, cfg.line_rate_bps)
        self.samples: list[list[float]] = []  # [t_ns, transfer, bytes sent, rate_bps]
        self.stalled: list[dict[str, Any]] = []  # send QPs given up on: a broken path
        self.sends_by_id = {s.id: s for s in cfg.sends}
        self.expired = False  # a retransmission timer expired since the last stall check
        self._data_frames = 0
        self._seen: dict[int, int] = {}  # transfer -> one past the highest index seen
        self._turn = 0
        self.start_ns = self.end_ns = 0
        self.stop = False

    # -- set-up ------------------------------------------------------------------------------
    def open(self) -> None:
        """Raw sockets on the configured interfaces, then the QPs on them."""
        cfg = self.cfg
        socks = {}
        try:
            for intf in cfg.interfaces:
                path = Path(f"/sys/class/net/{intf}/mtu")
                if not path.exists():
                    raise FabricTwinError(f"interface {intf}: not found in this namespace")
                mtu = int(path.read_text())
                if cfg.pmtu + DATA_OVERHEAD - ETH_LEN > mtu:
                    raise FabricTwinError(f"pmtu {cfg.pmtu} does not fit the MTU {mtu} of "
                                          f"{intf} (needs {cfg.pmtu + DATA_OVERHEAD - ETH_LEN})")
                socks[intf] = open_port(intf)
        except FabricTwinError:
            for sock in socks.values():
                sock.close()
            raise
        self.quiet = quiet_kernel_udp()
        self.attach(socks)

    def attach(self, socks: dict[str, Any]) -> None:
        """Build every QP and frame template on ``socks`` (interface -> object with send)."""
        cfg = self.cfg
        self.socks = socks
        opts = SendOptions(window=cfg.window, ack_every=cfg.ack_every, rto_ns=cfg.rto_ms * 1e6,
                           drain_bps=cfg.rto_drain_bps,
                           rate_bps=cfg.rate_bps, line_rate_bps=cfg.line_rate_bps,
                           dcqcn=cfg.dcqcn, burst_bytes=cfg.burst_bytes)
        pacer = CnpPacer((cfg.dcqcn or DcqcnParams()).cnp_interval_ns)
        for r in cfg.recvs:
            peer = cfg.peers[r.src]
            layout = Layout(r.size_bytes, cfg.pmtu, cfg.message_bytes)
            self.recv_qps[qpn_of(r.id)] = RecvQp(
                r.id, r.src, layout, socks[cfg.interface_of(r)], self.me,
                Endpoint(peer.mac, peer.ip), cfg.ack_every, pacer)
        for s in cfg.sends:
            peer = cfg.peers[s.dst]
            stream = WriteStream(s.id, self.me, Endpoint(peer.mac, peer.ip),
                                 Layout(s.size_bytes, cfg.pmtu, cfg.message_bytes))
            own = opts
            if s.rate_bps:  # the endpoint's rate: its timeout drains a window at it, too
                cap = min(r for r in (opts.rate_bps, s.rate_bps) if r)
                own = replace(opts, rate_bps=cap,
                              drain_bps=min(r for r in (opts.drain_bps, cap) if r))
            qp = SendQp(s.id, s.dst, stream, socks[cfg.interface_of(s)], own, set(s.deps),
                        delay_ns=s.delay_ns)
            qp.pause = self.pauses.nics[cfg.interface_of(s)]
            self.send_qps[stream.qpn] = qp
            for d in s.deps:
                self.waiting.setdefault(d, []).append(qp)

    def close(self) -> None:
        for s in [*self.socks.values(), self.quiet]:
            if isinstance(s, socket.socket):
                s.close()

    # -- frames and turns ----------------------------------------------------------------------
    def begin(self, now: int) -> None:
        """Start the clock: sends that wait for nothing become active."""
        self.start_ns = now
        for qp in self.send_qps.values():
            if not qp.deps:
                self._activate(qp, now)

    def _activate(self, qp: SendQp, now: int) -> None:
        qp.start(now)
        self.active.append(qp)

    def _completed(self, rqp: RecvQp, now: int) -> None:
        for qp in self.waiting.pop(rqp.tid, ()):
            qp.deps.discard(rqp.tid)
            if not qp.deps:
                self._activate(qp, now)

    def handle(self, frame: memoryview, now: int, intf: str | None = None) -> None:
        """One received frame on ``intf`` (default: the first interface): checks, then to
        its receive QP (data) or send QP (ACK, CNP); a PFC frame for our priority pauses
        or resumes the data we send out of ``intf``."""
        if frame[12:14] == b"\x88\x08":
            self.pauses.on_frame(intf, frame, now)
            return
        if len(frame) < BTH_OFF + 16 or frame[14] != 0x45 or frame[30:34] != self.my_ip:
            return
        counts = self.counts
        counts["frames_received"] += 1
        if not icrc_ok(frame):
            counts["icrc_errors"] += 1
            return
        opcode = frame[BTH_OFF]
        qpn = int.from_bytes(frame[BTH_OFF + 5:BTH_OFF + 8], "big")
        word = struct.unpack_from(">I", frame, BTH_OFF + 8)[0]
        psn = word & PSN_MASK
        if opcode in WRITE_OPCODES:
            rqp = self.recv_qps.get(qpn)
            if rqp is None:
                counts["unknown_qp"] += 1
            elif not (self.cfg.drop_every_n and self._inject_drop(rqp, psn)):
                was_done = rqp.done
                rqp.on_data(frame, psn, bool(word >> 31), frame[15] & 3 == ECN_CE, now)
                if rqp.done and not was_done:
                    self._completed(rqp, now)
                if rqp.pending is not None and rqp not in self.unsent:
                    self.unsent.append(rqp)
            return
        sqp = self.send_qps.get(qpn)
        if sqp is None:
            counts["unknown_qp"] += 1
        elif opcode == RC_ACK:
            counts["acks_received"] += 1
            sqp.on_ack(psn, frame[BTH_OFF + BTH_LEN], now)
        elif opcode == CNP_OPCODE:
            sqp.on_cnp(now)

    @property
    def paused_until(self) -> float:
        return self.pauses.latest

    def sample(self, now: int) -> None:
        """Record bytes sent and the current rate of every started transfer."""
        for qp in self.send_qps.values():
            if qp.start_ns and (not qp.finish_ns or qp.finish_ns >= now - 1e9):
                rate = qp.bucket.rate_bps if qp.bucket is not None else 0.0
                self.samples.append([now, qp.tid, qp.bytes, rate])

    def _inject_drop(self, rqp: RecvQp, psn: int) -> bool:
        """Test only: drop every n-th data frame seen for the first time. Resends always
        pass, so a periodic drop cannot lock go-back-N into resending the same window."""
        index = (psn - rqp.psn0) & PSN_MASK
        if index < self._seen.get(rqp.tid, 0):
            return False
        self._seen[rqp.tid] = index + 1
        self._data_frames += 1
        if self._data_frames % self.cfg.drop_every_n:
            return False
        self.counts["injected_drops"] += 1
        return True

    def turn(self, now: int) -> int:
        """Timers, then a batch from every active send QP (rotating who goes first)."""
        sent = 0
        if self.unsent:  # replies are not data: PFC pauses do not hold them back
            self.unsent = [qp for qp in self.unsent if not qp.flush(now)]
        if self.active:
            self._turn = (self._turn + 1) % len(self.active)
            for qp in self.active[self._turn:] + self.active[:self._turn]:
                self.expired |= qp.tick(now)
                if now >= qp.pause.until:
                    sent += qp.pump(now, TX_BATCH)
            self.active = [qp for qp in self.active if not qp.done]
        return sent

    @property
    def finished(self) -> bool:
        return not self.active and not self.unsent and \
            all(q.done for q in self.recv_qps.values()) and \
            all(q.done for q in self.send_qps.values())

    def wake_ns(self, now: int) -> int | None:
        """The earliest time a send QP needs a turn without a frame arriving."""
        wake = [max(t, qp.pause.until) for qp in self.active
                if (t := qp.wake_ns(now)) is not None]
        if self.unsent:
            wake.append(max(now, min(qp.busy_until for qp in self.unsent)))
        return math.ceil(min(wake)) if wake else None

    # -- the loop ------------------------------------------------------------------------------
    def _receive(self, intf: str, sock: socket.socket, buf: bytearray,
                 view: memoryview) -> int:
        got = 0
        while got < RX_BATCH:
            try:
                n = sock.recv_into(buf)
            except BlockingIOError:
                break
            got += 1
            self.handle(view[:n], self.clock(), intf)
        return got

    def run(self) -> bool:
        """Execute this agent's part; True when every transfer completed in time."""
        cfg = self.cfg
        if cfg.start_at_ns:
            while (wait := cfg.start_at_ns - self.clock()) > 0 and not self.stop:
                time.sleep(min(wait / 1e9, 0.1))
        now = self.clock()
        self.begin(now)
        deadline = now + int(cfg.timeout_s * 1e9)
        buf = bytearray(MAX_FRAME)
        view = memoryview(buf)
        socks = list(self.socks.values())
        linger_until = 0
        marks = DoneMarks(cfg.done_dir, cfg.rank, {r.src for r in cfg.recvs})
        sample_ns = int(cfg.sample_ms * 1e6)
        next_sample = now
        while not self.stop:
            got = sum(self._receive(i, s, buf, view) for i, s in self.socks.items())
            now = self.clock()
            if sample_ns and now >= next_sample:
                self.sample(now)
                next_sample = now + sample_ns
            sent = self.turn(now)
            if self.finished:
                if not linger_until:
                    self.end_ns = now
                    # a finished agent is not a timed-out one, however long it lingers
                    linger_until = min(now + int(cfg.linger_s * 1e9), deadline)
                    marks.mark()
                if now >= linger_until or marks.senders_done():
                    return True
            if now >= deadline:
                log.warning("rank %d: timed out after %.1f s", cfg.rank, cfg.timeout_s)
                return False
            if self.expired:  # only a timeout can make a send look stuck
                self.expired = False
                if cfg.stall_timeouts and self._stalled(cfg.stall_timeouts):
                    return False
            if not got and not sent:
                wake = self.wake_ns(now)
                until = min(wake or deadline, deadline, linger_until or deadline)
                timeout = min(IDLE_WAIT_S, max(0.0, (until - now) / 1e9))
                if timeout > 0:
                    select.select(socks, [], [], timeout)
        return False

    def _stalled(self, limit: int) -> bool:
        """Record every send QP whose path looks broken (``limit`` fruitless timeouts)."""
        self.stalled = [{"id": qp.tid, "dst": qp.dst,
                         "interface": self.cfg.interface_of(self.sends_by_id[qp.tid]),
                         "timeouts": qp.gbn.fruitless}
                        for qp in self.active if qp.gbn.fruitless >= limit]
        for st in self.stalled:
            log.warning("rank %d: transfer %d to rank %d stalled on %s after %d timeouts",
                        self.cfg.rank, st["id"], st["dst"], st["interface"], st["timeouts"])
        return bool(self.stalled)

    # -- results -------------------------------------------------------------------------------
    def result(self, ok: bool) -> dict[str, Any]:
        sends = [qp.result() for qp in sorted(self.send_qps.values(), key=lambda q: q.tid)]
        recvs = [qp.result() for qp in sorted(self.recv_qps.values(), key=lambda q: q.tid)]
        end = self.end_ns or self.clock()
        start = self.start_ns or end

        def total(rows: list[dict[str, Any]], key: str) -> int:
            return sum(int(r[key]) for r in rows)

        return {
            "rank": self.cfg.rank, "ok": ok and all(r["data_ok"] for r in recvs),
            "start_ns": start, "end_ns": end, "elapsed_s": (end - start) / 1e9,
            "bytes_sent": sum(qp.stream.layout.size_bytes for qp in self.send_qps.values()
                              if qp.done),
            "wire_bytes_sent": sum(qp.bytes for qp in self.send_qps.values()),
            "bytes_received": total(recvs, "bytes_received"),
            "frames_sent": total(sends, "frames_sent"),
            "retransmits": total(sends, "retransmits"), "timeouts": total(sends, "timeouts"),
            "naks_received": total(sends, "naks_received"), "naks_sent": total(recvs, "naks_sent"),
            "acks_sent": total(recvs, "acks_sent"),
            "cnps_sent": total(recvs, "cnps_sent"), "cnps_received": total(sends, "cnps_received"),
            "ecn_marked": total(recvs, "ecn_marked"), "psn_errors": total(recvs, "psn_errors"),
            "duplicates": total(recvs, "duplicates"), "malformed": total(recvs, "malformed"),
            "tx_blocked": sum(qp.blocked for qp in self.send_qps.values()),
            **self.counts, **self.pauses.counters(end),
            "stalled": self.stalled, "sends": sends, "recvs": recvs, "samples": self.samples}
