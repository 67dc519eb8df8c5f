"""The PFC daemon of a running emulation: the switches' pause logic, in the root namespace.

    python -m fabrictwin.fabric.pfc.daemon --config FILE.json

Every ``poll_ms`` it reads the lossless queue of every switch port (one rtnetlink dump,
:mod:`~fabrictwin.linux.rtnetlink`) and the bytes each port received
(sysfs), lets :class:`~fabrictwin.fabric.pfc.core.
FabricPfc` decide, and carries out what it returns: real IEEE 802.1Qbb frames sent on
the port (they bypass the port's queues, as MAC control frames do in a NIC), and queue
gates applied with tc. Between polls it reads the PFC frames arriving on every port.
It appends one line per poll to ``series`` (JSON lines: time, backlogs, buffer shares,
paused queues) and on SIGTERM writes ``result`` (counters per port, watchdog events).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import (
    Action,
    FabricPfc,
    Gate,
    PortSpec,
    SendPause,
    Watchdog,
    WatchdogEvent,
)
from fabrictwin.fabric.pfc.tc import LosslessQueue, read_leaves
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY
from fabrictwin.linux.commands import run
from fabrictwin.linux.names import check_name
from fabrictwin.linux.procs import die_with_parent
from fabrictwin.linux.rawsock import ACCEPT_NOTHING, open_raw
from fabrictwin.linux.rtnetlink import QdiscReader
from fabrictwin.protocols.pfc import PFC_BPF, noop_frame, parse_pause, pause_frame

log = logging.getLogger(__name__)

RX_BATCH = 64
NICE = -10  # ahead of the agents (0), still behind the kernel's own threads


class Port:
    """One switch port's sockets: PFC in and out (queue bypass), and a queue-waking one."""

    def __init__(self, intf: str) -> None:
        check_name(intf)
        self.intf = intf
        self.mac = Path(f"/sys/class/net/{intf}/address").read_text().strip()
        self.sock = open_raw(intf, bpf=PFC_BPF, ignore_outgoing=True, qdisc_bypass=True,
                             what="PFC socket")
        # send only: its receive queue stays empty
        self.kick_sock = open_raw(intf, bpf=ACCEPT_NOTHING, what="PFC socket")
        # kept open: a pread at offset 0 re-reads a sysfs counter in ~1 us, an open and
        # read takes ~14 us, times every port, every poll
        self.rx_fd = os.open(f"/sys/class/net/{intf}/statistics/rx_bytes", os.O_RDONLY)
        self.rx_last = self.rx_bytes()

    def rx_bytes(self) -> int:
        try:
            return int(os.pread(self.rx_fd, 32, 0))
        except (OSError, ValueError):
            return 0

    def send(self, quanta: int, priority: int) -> None:
        self.sock.send(pause_frame(self.mac, {priority: quanta}))

    def kick(self) -> None:
        """A no-op PFC frame through the port's queues: makes HTB look at a reopened class
        now rather than at its next timer (measured: up to ~40 ms later)."""
        with contextlib.suppress(OSError):  # a full queue wakes up by itself
            self.kick_sock.send(noop_frame(self.mac))

    def close(self) -> None:
        self.sock.close()
        self.kick_sock.close()
        os.close(self.rx_fd)


class Daemon:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.priority = int(cfg.get("priority", LOSSLESS_PRIORITY))
        self.poll_ns = int(float(cfg.get("poll_ms", 10)) * 1e6)
        wd = cfg.get("watchdog")
        self.core = FabricPfc([PortSpec(**p) for p in cfg["ports"]],
                              enabled=bool(cfg.get("enabled", True)),
                              watchdog=Watchdog(**wd) if wd else None)
        self.queues = {q["intf"]: LosslessQueue(**q) for q in cfg["queues"]}
        self.handle = next(iter(self.queues.values())).handle if self.queues else "11:"
        self.ports: dict[str, Port] = {}
        self.by_fd: dict[int, Port] = {}
        self.reader: QdiscReader | None = None
        self.stop = False
        self.drops0: dict[str, int] = {}
        self.max_backlog: dict[str, int] = {}
        self.max_switch: dict[str, int] = {}  # the most one switch held, all its ports
        self.drops: dict[str, int] = {}
        self.frames_sent = 0
        self.polls = 0
        self.poll_s = 0.0
        self.last_poll = 0
        self.max_gap_ns = 0  # the longest time between two polls: the reaction's worst

    def open(self) -> None:
        for spec in self.cfg["ports"]:
            port = Port(spec["intf"])
            self.ports[port.intf] = port
            self.by_fd[port.sock.fileno()] = port
        self.reader = QdiscReader()
        self.drops0 = {k: v.drops for k, v in read_leaves(self.handle, self.reader).items()}

    def close(self) -> None:
        for port in self.ports.values():
            port.close()
        if self.reader is not None:
            self.reader.close()

    # -- actions ---------------------------------------------------------------------------
    def apply(self, actions: list[Action], series: TextIO | None) -> None:
        lines, kicks = [], []
        for a in actions:
            if isinstance(a, SendPause):
                self.ports[a.intf].send(a.quanta, self.priority)
                self.frames_sent += 1
            elif isinstance(a, Gate):
                q = self.queues.get(a.intf)
                if q is not None:
                    lines.append(q.line("change", paused=not a.open, drop=a.drop))
                    if a.open:
                        kicks.append(a.intf)
            elif isinstance(a, WatchdogEvent):
                log.warning("pfc watchdog: %s %s (%s)", a.intf, a.kind, a.action)
                if series is not None:
                    series.write(json.dumps({"t_ns": a.t_ns, "watchdog": a.__dict__}) + "\n")
        if lines:
            res = run(["tc", "-force", "-batch", "-"], input_text="\n".join(lines) + "\n",
                      check=False)
            if res.returncode != 0:  # a gate not applied: say so, the counters would lie
                log.warning("tc: %s", (res.stderr or "").strip().splitlines()[:1])
        for intf in kicks:
            self.ports[intf].kick()

    def poll(self, now: int, series: TextIO | None) -> None:
        if self.last_poll:
            self.max_gap_ns = max(self.max_gap_ns, now - self.last_poll)
        self.last_poll = now
        t0 = time.perf_counter()
        assert self.reader is not None  # opened
        leaves = read_leaves(self.handle, self.reader)
        backlog, rx = {}, {}
        for intf, port in self.ports.items():
            cur = port.rx_bytes()
            rx[intf] = max(0, cur - port.rx_last)
            port.rx_last = cur
            st = leaves.get(intf)
            if st is not None:
                backlog[intf] = st.backlog_bytes
                self.max_backlog[intf] = max(self.max_backlog.get(intf, 0), st.backlog_bytes)
                self.drops[intf] = st.drops - self.drops0.get(intf, 0)
        for sw, states in self.core.by_switch.items():
            total = sum(backlog.get(st.spec.intf, 0) for st in states)
            self.max_switch[sw] = max(self.max_switch.get(sw, 0), total)
        self.apply(self.core.tick(now, backlog, rx), series)
        self.polls += 1
        self.poll_s += time.perf_counter() - t0
        if series is not None:
            row = {"t_ns": now, "backlog": {k: v for k, v in backlog.items() if v},
                   "share": {k: int(st.share_bytes) for k, st in self.core.ports.items()
                             if st.share_bytes >= 1},
                   "gated": self.core.gated(), "pausing": self.core.pausing()}
            series.write(json.dumps(row, separators=(",", ":")) + "\n")

    def receive(self, port: Port, buf: bytearray, now: int, series: TextIO | None) -> None:
        # a batch at a time: a PAUSE storm must not keep the poll (and the watchdog) away
        for _ in range(RX_BATCH):
            try:
                n = port.sock.recv_into(buf)
            except BlockingIOError:
                return
            quanta = parse_pause(memoryview(buf)[:n])
            if quanta is not None and self.priority in quanta:
                self.apply(self.core.on_pause(port.intf, quanta[self.priority], now), series)

    def run(self) -> None:
        series = open(self.cfg["series"], "w") if self.cfg.get("series") else None  # noqa: SIM115
        buf = bytearray(2048)
        clock = time.monotonic_ns
        next_poll = clock()
        try:
            while not self.stop:
                now = clock()
                if now >= next_poll:
                    self.poll(now, series)
                    next_poll = max(next_poll + self.poll_ns, clock())
                    continue
                try:
                    ready, _, _ = select.select(list(self.by_fd), [], [],
                                                (next_poll - now) / 1e9)
                except InterruptedError:
                    continue
                now = clock()
                for fd in ready:
                    self.receive(self.by_fd[fd], buf, now, series)
        finally:
            self.core.finish(clock())
            if series is not None:
                series.close()

    def result(self) -> dict[str, Any]:
        ports = {}
        for intf, st in self.core.ports.items():
            ports[intf] = {**st.counters, "switch": st.spec.switch, "peer": st.spec.peer,
                           "lossless_drops": self.drops.get(intf, 0),
                           "max_backlog_bytes": self.max_backlog.get(intf, 0)}

        def total(key: str) -> int:
            return sum(int(p[key]) for p in ports.values())

        return {
            "enabled": self.core.enabled, "polls": self.polls,
            "mean_poll_ms": 1e3 * self.poll_s / self.polls if self.polls else 0.0,
            "max_poll_gap_ms": self.max_gap_ns / 1e6,
            "pause_frames_sent": self.frames_sent,
            "pauses": total("xoff_sent"), "resumes": total("xon_sent"),
            "refreshes": total("refresh_sent"), "pauses_received": total("pause_rx"),
            "lossless_drops": total("lossless_drops"),
            "max_backlog_bytes": max((p["max_backlog_bytes"] for p in ports.values()), default=0),
            "max_switch_backlog_bytes": dict(self.max_switch),
            "watchdog_events": [e.__dict__ for e in self.core.events],
            "ports": ports}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fabrictwin.fabric.pfc.daemon",
                                 description="fabrictwin PFC daemon (root namespace)")
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="pfc: %(message)s")
    die_with_parent()  # with the run that started us
    # The switches' PFC logic must not wait behind the emulated hosts: on a loaded
    # machine the agents delayed polls by 50-65 ms, past the 30 ms headroom budget.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    try:
        cfg = json.loads(Path(args.config).read_text())
        daemon = Daemon(cfg)
        daemon.open()
    except (OSError, ValueError, TypeError, KeyError, FabricTwinError) as e:
        print(f"pfc: error: {e}", file=sys.stderr)
        return 2

    def on_term(_sig: int, _frame: object) -> None:
        daemon.stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    Path(cfg["ready"]).write_text("ready\n") if cfg.get("ready") else None
    try:
        daemon.run()
    finally:
        daemon.close()
        if cfg.get("result"):
            tmp = Path(cfg["result"] + ".tmp")
            tmp.write_text(json.dumps(daemon.result(), indent=1) + "\n")
            tmp.replace(cfg["result"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
