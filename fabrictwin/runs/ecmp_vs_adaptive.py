"""ECMP vs adaptive routing under a skewed traffic pattern: the measurement, table and
plot of ``fabrictwin experiment ecmp-vs-adaptive`` (root).

Each mode brings up the fabric of :mod:`fabrictwin.runs.controlled_fabric` under a
controller with ``routing: ecmp`` or ``routing: adaptive`` (telemetry every 100 ms, ECN
off) and runs the same skewed pattern from edge p0e0 to pod 1 (:data:`FLOWS`), then
reads the pod-0 uplinks' utilisation and the throughput delivered to the receivers from
the switches' OpenFlow tx byte counters (see the experiment's ``--help``).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fabrictwin.linux.procs import stop_process
from fabrictwin.runs import controlled_fabric as fab
from fabrictwin.topologies.registry import build_topology

#: (source, destination, rate, client port)
FLOWS = (("p0e0h0", "p1e0h0", "30M", 41001), ("p0e0h0", "p1e1h0", "6M", 41002),
         ("p0e0h1", "p1e0h1", "30M", 41003), ("p0e0h1", "p1e1h1", "6M", 41004))
MODES = ("ecmp", "adaptive")


def tx_bytes(switch: str) -> dict[int, int]:
    """Bytes sent per port of ``switch``, from its OpenFlow port counters."""
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-ports", switch],
                         capture_output=True, text=True, check=True).stdout
    return {int(p): int(b) for p, b in
            re.findall(r"port\s+(\d+): rx pkts=.*?tx pkts=\d+, bytes=(\d+)", out, re.S)}


def counters(ports: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    by_switch = {s: tx_bytes(s) for s in {s for s, _ in ports}}
    return {(s, p): by_switch[s][p] for s, p in ports}


def measure(mode: str, seconds: float) -> dict[str, Any]:
    """One routing mode: the fabric up, the skewed pattern for ``seconds``, its figures."""
    g = build_topology(fab.SPEC)

    def port(a: str, b: str) -> int:
        return int(g.edges[a, b]["ports"][a])

    ups = [(s, port(s, n)) for s in ("p0e0", "p0e1") for n in g[s]
           if g.nodes[n]["role"] == "agg"]
    ups += [(s, port(s, n)) for s in ("p0a0", "p0a1") for n in g[s]
            if g.nodes[n]["role"] == "core"]
    sinks = [(f"p1e{d[3]}", port(f"p1e{d[3]}", d)) for _, d, _, _ in FLOWS]
    rate_bps = float(g.edges[ups[0][0], next(iter(g[ups[0][0]]))]["rate_bps"]) / fab.DILATION
    policy = f"routing: {mode}\ntelemetry_interval_s: 100ms\necn:\n  enabled: false\n"
    with fab.controlled(policy) as (emu, ctl):
        servers = []
        for _, dst, _, _ in FLOWS:
            servers.append(emu.net.nameToNode[dst].popen(
                ["iperf3", "-s", "-1", "-p", "5201"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        try:
            time.sleep(0.5)
            cmds: dict[str, list[str]] = {}
            for src, dst, rate, cport in FLOWS:
                cmds.setdefault(src, []).append(
                    f"iperf3 -c {fab.host_ip(emu, dst)} -p 5201 -u -b {rate} -l 1400 "
                    f"--cport {cport} -t {seconds:g} >/dev/null 2>&1 &")
            before, t0 = counters(ups + sinks), time.monotonic()
            emu.run_in_hosts({h: " ".join(c) + " wait" for h, c in cmds.items()})
            after, dt = counters(ups + sinks), time.monotonic() - t0
        finally:
            for proc in servers:
                stop_process(proc, 10)
        adapt = [d for d in ctl.decisions() if d["kind"] == "adaptive"]
    util = {f"{s}:{p}": (after[(s, p)] - before[(s, p)]) * 8 / dt / rate_bps for s, p in ups}
    total = sum(after[k] - before[k] for k in sinks) * 8 / dt / 1e6
    return {"mode": mode, "util": util, "mbps": total, "adaptive": len(adapt)}


def run_ecmp_vs_adaptive(seconds: float, modes: Sequence[str] = MODES) -> list[dict[str, Any]]:
    """:func:`measure` of each routing mode in turn (Open vSwitch started first)."""
    from fabrictwin.fabric import ovs
    from fabrictwin.runs.session import sigterm_as_interrupt

    fab.check_seconds(seconds)
    with sigterm_as_interrupt():
        ovs.ensure_ovs()
        return [measure(mode, seconds) for mode in modes]


def table(rows: Sequence[dict[str, Any]], seconds: float) -> str:
    """The printed report: the offered flows, then utilisation per uplink and mode,
    total throughput and the adaptive re-weights."""
    names = list(rows[0]["util"])
    lines = [f"offered: {', '.join(f'{s}->{d} {r}b/s' for s, d, r, _ in FLOWS)}; "
             f"{seconds:g} s",
             f"{'uplink':<10} " + " ".join(f"{r['mode']:>9}" for r in rows)]
    for n in names:
        lines.append(f"{n:<10} " + " ".join(f"{r['util'][n]:9.2f}" for r in rows))
    lines.append(f"{'total Mb/s':<10} " + " ".join(f"{r['mbps']:9.1f}" for r in rows))
    lines.append(f"{'re-weights':<10} " + " ".join(f"{r['adaptive']:9d}" for r in rows))
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Utilisation per uplink and mode, and the total throughput per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows[0]["util"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8),
                                  gridspec_kw={"width_ratios": [4, 1]})
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar([x + i * width for x in range(len(names))], [r["util"][n] for n in names],
               width, label=r["mode"])
    ax.set_xticks([x + width * (len(rows) - 1) / 2 for x in range(len(names))], names,
                  rotation=30, fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("uplink utilisation")
    ax.legend()
    ax2.bar([r["mode"] for r in rows], [r["mbps"] for r in rows], color="tab:green")
    ax2.set_ylabel("total throughput (Mb/s)")
    fig.suptitle("skewed pod-0 -> pod-1 traffic, fat_tree,k=4 at dilation 20000")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
