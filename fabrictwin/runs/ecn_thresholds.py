"""ECN thresholds under a fixed 4:1 incast, Kmin/Kmax swept over three settings: the
measurement, table and plot of ``fabrictwin experiment ecn-thresholds`` (root).

Each setting brings up the fabric of :mod:`fabrictwin.runs.controlled_fabric` under a
controller with that RED profile (Pmax 1, thresholds at 800 Gb/s) and telemetry every
50 ms, runs the incast and reads the CE-marked share, the throughput and the largest
receiver-port backlog (see the experiment's ``--help``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fabrictwin.runs import controlled_fabric as fab
from fabrictwin.topologies.registry import build_topology

SETTINGS = (("5KB", "50KB"), ("30KB", "120KB"), ("80KB", "300KB"))
PAYLOAD = 1400
#: per sender: 4 x 10.2 Mb/s of payload is ~1.05x the 40 Mb/s receiver link on the wire,
#: so the queue grows slowly enough (~0.25 MB/s) for the thresholds to matter
RATE = "10.2M"


def measure(kmin: str, kmax: str, seconds: float) -> dict[str, Any]:
    """One setting: the fabric up, the incast for ``seconds``, its figures."""
    policy = "telemetry_interval_s: 50ms\n" + fab.STEEP_ECN.format(kmin=kmin, kmax=kmax)
    with fab.controlled(policy) as (emu, ctl), tempfile.TemporaryDirectory() as tmp:
        edge = build_topology(fab.SPEC).edges["p0e0", fab.RECEIVER]
        rx_port = f"p0e0-eth{edge['ports']['p0e0']}"
        t0 = time.time()
        pcap = Path(tmp) / "rx.pcap"
        fab.incast(emu, seconds, pcap, rate=RATE)
        frames = fab.pcap_times(pcap, "udp")
        ce = fab.pcap_times(pcap, "ip[1] & 3 = 3")
        backlog = [d["backlog_bytes"].get(rx_port, 0) for d in ctl.decisions()
                   if d["kind"] == "queues" and d["t"] >= t0]
    span = frames[-1] - frames[0] if len(frames) > 1 else float("nan")
    return {"kmin": kmin, "kmax": kmax, "frames": len(frames), "ce": len(ce),
            "ce_share": len(ce) / len(frames) if frames else 0.0,
            "mbps": len(frames) * PAYLOAD * 8 / span / 1e6,
            "max_backlog": max(backlog, default=0)}


def run_ecn_thresholds(seconds: float, settings: Sequence[tuple[str, str]] = SETTINGS,
                       ) -> list[dict[str, Any]]:
    """:func:`measure` of each (Kmin, Kmax) setting in turn (Open vSwitch started first)."""
    from fabrictwin.fabric import ovs
    from fabrictwin.runs.session import sigterm_as_interrupt

    fab.check_seconds(seconds)
    with sigterm_as_interrupt():
        ovs.ensure_ovs()
        return [measure(kmin, kmax, seconds) for kmin, kmax in settings]


def table(rows: Sequence[dict[str, Any]], seconds: float) -> str:
    """The printed report: a heading line and one row per setting."""
    lines = [f"4:1 incast, {RATE}b/s per sender into {fab.RECEIVER}, {seconds:g} s, "
             "Pmax 1, thresholds at 800 Gb/s",
             f"{'Kmin/Kmax':<12} {'CE share':>9} {'CE/frames':>13} {'Mb/s':>7} "
             f"{'max backlog':>12}"]
    for r in rows:
        lines.append(f"{r['kmin'] + '/' + r['kmax']:<12} {r['ce_share']:9.3f} "
                     f"{str(r['ce']) + '/' + str(r['frames']):>13} {r['mbps']:7.1f} "
                     f"{r['max_backlog']:10d} B")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """CE share, throughput and largest backlog per setting, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['kmin']}/{r['kmax']}" for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, title, scale in ((axes[0], "ce_share", "CE-marked share", 1.0),
                                  (axes[1], "mbps", "throughput (Mb/s)", 1.0),
                                  (axes[2], "max_backlog", "max backlog (KB)", 1e-3)):
        ax.bar(labels, [r[key] * scale for r in rows], color="tab:blue")
        ax.set_title(title)
        ax.set_xlabel("Kmin/Kmax at 800 Gb/s")
    fig.suptitle("4:1 incast, fat_tree,k=4 at dilation 20000 (40 Mb/s links)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
