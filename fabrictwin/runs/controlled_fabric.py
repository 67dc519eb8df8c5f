"""The fabric of the controller experiments: ``fat_tree,k=4`` at dilation 20000 (800 Gb/s
links become 40 Mb/s) under the controller with a given policy, UDP traffic by iperf3
and tcpdump captures at the hosts (all as root).

The same fabric and incast as ``benchmarks/ecn_reaction.py``; used by
:mod:`fabrictwin.runs.ecn_thresholds` and :mod:`fabrictwin.runs.ecmp_vs_adaptive`.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.ovs_txbuf import RX_BUFFER_BYTES, TX_BUFFER_BYTES, raised_tx_buffer
from fabrictwin.linux.procs import stop_process
from fabrictwin.runs.session import bring_up, prepare
from fabrictwin.topologies.registry import build_topology

SPEC = "fat_tree,k=4"
DILATION = 20000.0
RECEIVER = "p0e0h0"
SENDERS = ("p1e0h0", "p1e1h1", "p2e0h1", "p3e1h0")
RATE = "20M"
#: an ECN profile marking at every port: thresholds at 800 Gb/s, Pmax 1
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
    g = build_topology(SPEC)
    caps, _cal, plan = prepare(g, DILATION)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.yaml").write_text(policy)
        with bring_up(g, plan, caps, policy=Path(tmp) / "p.yaml") as (emu, ctl):
            reach = emu.reachability(2.0)
            if not reach.ok:
                raise FabricTwinError(f"not all pairs reachable: {reach.failed[:5]}")
            # else OVS's one send socket caps all queues together at ~100 KB (ovs_txbuf)
            ports = {intf for sw in emu.plan.switches for _n, intf in sw.ports}
            with raised_tx_buffer(TX_BUFFER_BYTES, RX_BUFFER_BYTES, ports):
                yield emu, ctl


def host_ip(emu: Any, name: str) -> str:
    return next(h.ip for h in emu.plan.hosts if h.name == name)


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
        stop_process(cap, 10, signal.SIGINT)


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
            stop_process(proc, 10)


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


def check_seconds(seconds: float, what: str = "--seconds") -> None:
    """Refuse a traffic length that is not a positive, finite number of seconds."""
    if not 0 < seconds < float("inf"):  # also NaN
        raise FabricTwinError(f"{what} must be positive and finite, got {seconds:g}")
