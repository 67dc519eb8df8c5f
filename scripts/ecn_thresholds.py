#!/usr/bin/env python3
"""ECN thresholds under a fixed 4:1 incast: Kmin/Kmax swept over three settings (root).

Usage: sudo .venv/bin/python scripts/ecn_thresholds.py [--seconds 4] [--out results/]

Each setting brings up ``fat_tree,k=4`` at dilation 20000 (40 Mb/s links) under a
controller with that RED profile (Pmax 1, thresholds at 800 Gb/s, i.e. at every port)
and telemetry every 50 ms, then runs the incast of benchmarks/ecn_reaction.py: four
senders at 10.2 Mb/s each (DSCP 26 + ECT(0)) into p0e0h0, ~1.05x its link on the wire,
so the queue grows by ~0.25 MB/s and crosses each setting's thresholds in turn. Per
setting:

- CE share: CE-marked share of the lossless frames the receiver captured;
- throughput: UDP payload the receiver got, first to last frame;
- max backlog: the largest receiver-port backlog in the controller's qdisc telemetry
  (OVS's send buffer is raised for the run, so the port can hold its configured 1.44 MB;
  before it was, all queues together were capped at ~100 KB, see ovs_txbuf).

The senders are UDP (iperf3): they do not slow down on CE, so the backlog shows the
queue the marking *would* act on, not one a congestion control shrank. Prints a table
and writes ``ecn_thresholds.png`` under --out.
"""

from __future__ import annotations

# `sudo scripts/X.py` runs the system python3: re-run under the project's venv.
import os as _os
import sys as _sys
from pathlib import Path as _Path

_VENV_PY = _Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
if _VENV_PY.exists() and _Path(_sys.prefix).resolve() != _VENV_PY.parents[1].resolve():
    _os.execv(str(_VENV_PY), [str(_VENV_PY), *_sys.argv])

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = (("5KB", "50KB"), ("30KB", "120KB"), ("80KB", "300KB"))
PAYLOAD = 1400
#: per sender: 4 x 10.2 Mb/s of payload is ~1.05x the 40 Mb/s receiver link on the wire,
#: so the queue grows slowly enough (~0.25 MB/s) for the thresholds to matter
RATE = "10.2M"


def measure(mod: Any, kmin: str, kmax: str, seconds: float) -> dict[str, Any]:
    policy = "telemetry_interval_s: 50ms\n" + mod.STEEP_ECN.format(kmin=kmin, kmax=kmax)
    with mod.controlled(policy) as (emu, ctl), tempfile.TemporaryDirectory() as tmp:
        edge = mod.build_topology(mod.SPEC).edges["p0e0", mod.RECEIVER]
        rx_port = f"p0e0-eth{edge['ports']['p0e0']}"
        t0 = time.time()
        pcap = Path(tmp) / "rx.pcap"
        mod.incast(emu, seconds, pcap, rate=RATE)
        frames = mod.pcap_times(pcap, "udp")
        ce = mod.pcap_times(pcap, "ip[1] & 3 = 3")
        backlog = [d["backlog_bytes"].get(rx_port, 0) for d in ctl.decisions()
                   if d["kind"] == "queues" and d["t"] >= t0]
    span = frames[-1] - frames[0] if len(frames) > 1 else float("nan")
    return {"kmin": kmin, "kmax": kmax, "frames": len(frames), "ce": len(ce),
            "ce_share": len(ce) / len(frames) if frames else 0.0,
            "mbps": len(frames) * PAYLOAD * 8 / span / 1e6,
            "max_backlog": max(backlog, default=0)}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--seconds", type=float, default=4.0, help="incast length (default 4)")
    p.add_argument("--out", type=Path, default=ROOT / "results",
                   help="directory for the PNG (default results/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (run with sudo)")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import ecn_reaction as mod

    mod.ovs.ensure_ovs()
    rows = [measure(mod, kmin, kmax, args.seconds) for kmin, kmax in SETTINGS]
    print(f"4:1 incast, {RATE}b/s per sender into {mod.RECEIVER}, {args.seconds:g} s, "
          "Pmax 1, thresholds at 800 Gb/s")
    print(f"{'Kmin/Kmax':<12} {'CE share':>9} {'CE/frames':>13} {'Mb/s':>7} "
          f"{'max backlog':>12}")
    for r in rows:
        print(f"{r['kmin'] + '/' + r['kmax']:<12} {r['ce_share']:9.3f} "
              f"{str(r['ce']) + '/' + str(r['frames']):>13} {r['mbps']:7.1f} "
              f"{r['max_backlog']:10d} B")
    png = args.out / "ecn_thresholds.png"
    plot(rows, png)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
