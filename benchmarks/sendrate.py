#!/usr/bin/env python3
"""RoCEv2 WRITE frames per second from one core: the agent's fast path vs scapy's sendp (root).

Usage: sudo .venv/bin/python benchmarks/sendrate.py [--frames 500000] [--seconds 3]
                                 [--scapy-frames 2000] [--scapy-seconds 20]

All senders send the same frames (RC RDMA WRITE, 1 KiB payload, 64 KiB messages: FIRST /
MIDDLE / LAST with PSN, RETH and ICRC correct) on a veth whose peer sits in a network
namespace, pinned to one core. fabrictwin: the agent's send QP (go-back-N bookkeeping,
frames stamped in place, one ``socket.send`` each), its window opened wide since nobody
acknowledges. scapy, three ways: ``sendp(frame, iface=...)`` per frame (the plain call,
which opens and closes a packet socket each time); ``sendp(frame, socket=s)`` per frame
on one open socket; ``sendp`` of a list built beforehand (no per-frame state at all).
Rates count the frames the peer's interface received. The last line is the ratio to
the plain call; the line before gives the ratios to the other two.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scapy.config import conf  # noqa: E402
from scapy.packet import Packet  # noqa: E402
from scapy.sendrecv import sendp  # noqa: E402

from fabrictwin.protocols.roce import write_frame  # noqa: E402
from fabrictwin.traffic.fastpath import Endpoint, Layout, WriteStream, open_port  # noqa: E402
from fabrictwin.traffic.qp import SendOptions, SendQp  # noqa: E402

NS, IF_OUT, IF_PEER = "ftb-sendrate", "ftbsr0", "ftbsr1"
SRC = Endpoint("02:00:00:00:00:01", "10.0.0.1")
DST = Endpoint("02:00:00:00:00:02", "10.0.0.2")
PAYLOAD, MESSAGE = 1024, 65536


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def setup() -> None:
    teardown()
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", IF_OUT, "type", "veth", "peer", "name", IF_PEER)
    sh("ip", "link", "set", IF_PEER, "netns", NS)
    sh("ip", "link", "set", IF_OUT, "address", SRC.mac, "up")
    sh("ip", "-n", NS, "link", "set", IF_PEER, "address", DST.mac, "up")
    # no IPv6 on the pair, so the peer's counter sees only the benchmark's frames
    sh("sysctl", "-qw", f"net.ipv6.conf.{IF_OUT}.disable_ipv6=1")
    sh("ip", "netns", "exec", NS, "sysctl", "-qw", f"net.ipv6.conf.{IF_PEER}.disable_ipv6=1")


def teardown() -> None:
    subprocess.run(["ip", "link", "del", IF_OUT], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def peer_rx() -> int:
    return int(sh("ip", "netns", "exec", NS, "cat", f"/sys/class/net/{IF_PEER}/statistics/"
                  "rx_packets"))


def fast_path(frames: int, seconds: float) -> tuple[int, float]:
    stream = WriteStream(1, SRC, DST, Layout(frames * PAYLOAD, PAYLOAD, MESSAGE))
    sock = open_port(IF_OUT)
    qp = SendQp(1, 1, stream, sock, SendOptions(window=frames, rto_ns=1e12))
    clock = time.monotonic_ns
    qp.start(clock())
    t0 = clock()
    stop = t0 + int(seconds * 1e9)
    while not qp.gbn.nxt >= frames:
        now = clock()
        if now >= stop:
            break
        qp.pump(now, 64)
    dt = (clock() - t0) / 1e9
    sock.close()
    return qp.frames, dt


def scapy_frame(i: int) -> Packet:
    """Frame i of the stream, built by scapy (ICRC computed by scapy)."""
    m, k = divmod(i, MESSAGE // PAYLOAD)
    op = 6 if k == 0 else 8 if k == MESSAGE // PAYLOAD - 1 else 7
    return write_frame(src_mac=SRC.mac, dst_mac=DST.mac, src_ip=SRC.ip, dst_ip=DST.ip,
                       sport=0xC001, dqpn=0x101, opcode=op, psn=i, payload=bytes(PAYLOAD),
                       va=m * MESSAGE, dlen=MESSAGE)


def scapy_per_frame(count: int, seconds: float) -> tuple[int, float]:
    """sendp(frame, iface=...) per frame: scapy opens and closes a packet socket each call."""
    t0 = time.perf_counter()
    sent = 0
    while sent < count and time.perf_counter() - t0 < seconds:
        sendp(scapy_frame(sent), iface=IF_OUT, verbose=False)
        sent += 1
    return sent, time.perf_counter() - t0


def scapy_open_socket(count: int, seconds: float) -> tuple[int, float]:
    """sendp(frame, socket=s) per frame: one socket, each frame built when it is sent."""
    sock = conf.L2socket(iface=IF_OUT)
    t0 = time.perf_counter()
    sent = 0
    while sent < count and time.perf_counter() - t0 < seconds:
        sendp(scapy_frame(sent), socket=sock, verbose=False)
        sent += 1
    dt = time.perf_counter() - t0
    sock.close()
    return sent, dt


def scapy_batch(count: int, _seconds: float) -> tuple[int, float]:
    """sendp(list) of frames built beforehand: scapy's best case, no per-frame state."""
    frames = [scapy_frame(i) for i in range(count)]
    t0 = time.perf_counter()
    sendp(frames, iface=IF_OUT, verbose=False)
    return count, time.perf_counter() - t0


def measured(run, *args) -> tuple[float, int, int]:
    """(frames/s counted at the peer, frames sent, frames the peer received)."""
    before = peer_rx()
    sent, dt = run(*args)
    time.sleep(0.2)  # let the peer's backlog drain into its counters
    got = peer_rx() - before
    return got / dt, sent, got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--scapy-frames", type=int, default=2000)
    ap.add_argument("--scapy-seconds", type=float, default=20.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("sendrate: needs root (network namespace, raw sockets)")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    rows = [("fabrictwin agent fast path", fast_path, args.frames, args.seconds),
            ("scapy sendp(frame, iface=IF)", scapy_per_frame, args.scapy_frames,
             args.scapy_seconds),
            ("scapy sendp(frame, socket=s)", scapy_open_socket, args.scapy_frames,
             args.scapy_seconds),
            ("scapy sendp([frames]) pre-built", scapy_batch, args.scapy_frames, 0.0)]
    results = []
    try:
        setup()
        for name, run, count, seconds in rows:
            results.append((name, *measured(run, count, seconds)))
    finally:
        teardown()
    print(f"{'sender':34} {'sent':>8} {'received':>8} {'frames/s':>10}")
    for name, rate, sent, got in results:
        print(f"{name:34} {sent:8d} {got:8d} {rate:10.0f}")
    fast = results[0][1]
    print(f"ratio_open_socket={fast / results[2][1]:.0f}  ratio_prebuilt_list="
          f"{fast / results[3][1]:.0f}")
    print(f"ratio={fast / results[1][1]:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
