#!/usr/bin/env python3
"""ECN reaction time: a queue crossing Kmin to the first CE-marked frame (root).

Usage: sudo .venv/bin/python benchmarks/ecn_reaction.py [--interval 50ms] [--runs 3]

``fat_tree,k=4`` at dilation 20000 (800 Gb/s links become 40 Mb/s), the steep ECN
policy of tests/test_controller_emulation_root.py (Kmin 5 KB, Kmax 50 KB, Pmax 1 at
800 Gb/s, so at every port) and a telemetry interval of 50 ms unless given. A 4:1
UDP incast (DSCP 26 + ECT(0), 20 Mb/s per sender: twice the receiver's link) starts
on an idle fabric.

Both ends are on CLOCK_REALTIME: the decision log's ``t`` is ``time.time()`` (for a
queue sample, the time the qdisc was read), and tcpdump's timestamps at the
receiver, written and read at nanosecond precision, are the kernel's realtime clock.

- t_kmin: the first ``ecn`` decision with a marking share > 0, i.e. the first queue
  sample above Kmin (the crossing itself lies up to one interval before it);
- t_ce: the first CE-marked lossless frame the receiver sees.

reaction = t_ce - t_kmin, in telemetry intervals; the target is within 2. Also shown:
t_first (the first incast frame at the receiver) to both. Last line:
reaction_intervals=<median over the runs>.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabrictwin.controllers.config import read_seconds
from fabrictwin.fabric.emulation import ovs
from fabrictwin.fabric.emulation.ovs_txbuf import raised_tx_buffer
from fabrictwin.fabric.pfc.process import RX_BUFFER_BYTES, TX_BUFFER_BYTES
from fabrictwin.topologies.registry import build_topology

SPEC = "fat_tree,k=4"
DILATION = 20000.0
RECEIVER = "p0e0h0"
SENDERS = ("p1e0h0", "p1e1h1", "p2e0h1", "p3e1h0")
RATE = "20M"
STEEP_ECN = """\
ecn:
  kmin_bytes: {kmin}
  kmax_bytes: {kmax}
  pmax: 1.0
  reference_rate_bps: 800G
"""


@contextmanager
def controlled(policy: str) -> Iterator[tuple[Any, Any]]:
    """``SPEC`` up under the controller with ``policy`` (YAML), all pairs reachable."""
    from fabrictwin.fabric.emulation.session import bring_up, prepare

    g = build_topology(SPEC)
    caps, _cal, plan = prepare(g, DILATION)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.yaml").write_text(policy)
        with bring_up(g, plan, caps, policy=Path(tmp) / "p.yaml") as (emu, ctl):
            reach = emu.reachability(2.0)
            if not reach.ok:
                raise SystemExit(f"not all pairs reachable: {reach.failed[:5]}")
            # else OVS's one send socket caps all queues together at ~100 KB (ovs_txbuf)
            ports = {intf for sw in emu.plan.switches for _n, intf in sw.ports}
            with raised_tx_buffer(TX_BUFFER_BYTES, RX_BUFFER_BYTES, ports):
                yield emu, ctl


def host_ip(emu: Any, name: str) -> str:
    return next(h.ip for h in emu.plan.hosts if h.name == name)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def capture(emu: Any, host: str, pcap: Path) -> Iterator[None]:
    """tcpdump of the lossless class (DSCP 26) at ``host``, nanosecond timestamps."""
    intf = next(h.intfs[0] for h in emu.plan.hosts if h.name == host)
    cap = emu.net.nameToNode[host].popen(
        ["tcpdump", "-Z", "root", "--time-stamp-precision=nano", "-ni", intf, "-s", "64",
         "-w", str(pcap), "udp and ip[1] & 0xfc = 0x68"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        yield
    finally:
        stop(cap, signal.SIGINT)


@contextmanager
def iperf_servers(emu: Any, host: str, ports: list[int]) -> Iterator[None]:
    procs = [emu.net.nameToNode[host].popen(["iperf3", "-s", "-1", "-p", str(p)],
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL) for p in ports]
    try:
        time.sleep(0.5)
        yield
    finally:
        for proc in procs:
            stop(proc)


def pcap_times(pcap: Path, expr: str) -> list[float]:
    """Realtime timestamps (s) of the frames of ``pcap`` matching ``expr``."""
    out = subprocess.run(["tcpdump", "--time-stamp-precision=nano", "-tt", "-nr", str(pcap),
                          expr], capture_output=True, text=True).stdout
    return [float(line.split()[0]) for line in out.splitlines() if line.strip()]


def incast(emu: Any, seconds: float, pcap: Path, senders: tuple[str, ...] = SENDERS,
           rate: str = RATE) -> dict[str, str]:
    """``senders`` -> RECEIVER at ``rate`` each (DSCP 26 + ECT(0)), captured into ``pcap``."""
    ports = {s: 5201 + i for i, s in enumerate(senders)}
    rx = host_ip(emu, RECEIVER)
    with iperf_servers(emu, RECEIVER, list(ports.values())), capture(emu, RECEIVER, pcap):
        out = emu.run_in_hosts({s: f"iperf3 -c {rx} -p {p} -u -S 0x6a -b {rate} -l 1400 "
                                f"-t {seconds:g} --json 2>/dev/null" for s, p in ports.items()})
        time.sleep(1.0)
    return out


def one_run(emu: Any, ctl: Any, interval_s: float, tmp: Path, i: int) -> dict[str, Any]:
    ovs_quiet(emu)
    t_begin = time.time()
    pcap = tmp / f"rx{i}.pcap"
    incast(emu, 3.0, pcap)
    first = pcap_times(pcap, "udp")
    ce = pcap_times(pcap, "ip[1] & 3 = 3")
    marks = [d for d in ctl.decisions()
             if d["kind"] == "ecn" and d["t"] >= t_begin and d["permille"] > 0]
    if not first or not ce or not marks:
        raise SystemExit(f"run {i}: {len(first)} frames, {len(ce)} CE, "
                         f"{len(marks)} marking decisions: nothing to time")
    m = marks[0]
    return {"t_first": first[0], "t_kmin": m["t"], "t_ce": ce[0],
            "port": f"{m['switch']}-eth{m['port']}", "backlog": m["backlog_bytes"],
            "kmin": m["kmin_bytes"], "reaction": (ce[0] - m["t"]) / interval_s,
            "frames": len(first), "ce": len(ce)}


def ovs_quiet(emu: Any, timeout_s: float = 10.0) -> None:
    """Wait until the controller has unmarked every port (queues drained)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if not any(emu_backlogs().values()):
            return


def emu_backlogs() -> dict[str, int]:
    from fabrictwin.fabric.emulation.qdisc import read_backlogs

    return {d: q.backlog_bytes for d, q in read_backlogs().items() if "-eth" in d}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", default="50ms", help="telemetry interval (default 50ms)")
    p.add_argument("--runs", type=int, default=3, help="incasts to time (default 3)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    interval_s = read_seconds(args.interval, "--interval")
    ovs.ensure_ovs()
    policy = f"telemetry_interval_s: {interval_s}\n" + STEEP_ECN.format(kmin="5KB",
                                                                         kmax="50KB")
    rows = []
    with controlled(policy) as (emu, ctl), tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            rows.append(one_run(emu, ctl, interval_s, Path(tmp), i))
    print(f"{SPEC} at dilation {DILATION:g} (40 Mb/s links), telemetry every "
          f"{interval_s * 1000:g} ms, 4:1 incast at {RATE}b/s per sender, Kmin 5 KB")
    print(f"{'run':>3} {'first frame -> Kmin seen':>24} {'Kmin seen -> first CE':>22} "
          f"{'intervals':>9}  port (backlog at sample)  CE/frames")
    for i, r in enumerate(rows):
        print(f"{i:>3} {(r['t_kmin'] - r['t_first']) * 1000:21.1f} ms "
              f"{(r['t_ce'] - r['t_kmin']) * 1000:19.1f} ms {r['reaction']:9.2f}  "
              f"{r['port']} ({r['backlog']} B > {r['kmin']} B)  {r['ce']}/{r['frames']}")
        print(f"    t_kmin={r['t_kmin']:.6f} t_ce={r['t_ce']:.9f} (CLOCK_REALTIME)")
    med = statistics.median(r["reaction"] for r in rows)
    print(f"target: within 2 intervals: {'met' if med <= 2 else 'NOT met'}")
    print(f"reaction_intervals={med:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
