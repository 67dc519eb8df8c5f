#!/usr/bin/env python3
"""ECMP vs adaptive routing under a skewed traffic pattern (root).

Usage: sudo .venv/bin/python scripts/ecmp_vs_adaptive.py [--seconds 10] [--out results/]

Each mode brings up ``fat_tree,k=4`` at dilation 20000 (40 Mb/s links) under a
controller with ``routing: ecmp`` or ``routing: adaptive`` (telemetry every 100 ms,
ECN off, adaptive defaults: util_high 0.8, hold 500 ms), then runs the same skewed
pattern from edge p0e0 to pod 1: two heavy UDP flows (30 Mb/s) and two light ones
(6 Mb/s), 72 Mb/s offered to p0e0's two 40 Mb/s uplinks. Client ports are fixed, so
both modes start from the same ECMP hash placement.

Per mode: utilisation of each pod-0 uplink (edge->agg, agg->core; OpenFlow tx byte
counters over the run, of the 40 Mb/s link rate) and the total throughput delivered
to the four receivers (tx bytes of their edge ports). Prints a table and writes
``ecmp_vs_adaptive.png`` under --out.
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
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: (source, destination, rate, client port)
FLOWS = (("p0e0h0", "p1e0h0", "30M", 41001), ("p0e0h0", "p1e1h0", "6M", 41002),
         ("p0e0h1", "p1e0h1", "30M", 41003), ("p0e0h1", "p1e1h1", "6M", 41004))
MODES = ("ecmp", "adaptive")


def tx_bytes(switch: str) -> dict[int, int]:
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-ports", switch],
                         capture_output=True, text=True, check=True).stdout
    return {int(p): int(b) for p, b in
            re.findall(r"port\s+(\d+): rx pkts=.*?tx pkts=\d+, bytes=(\d+)", out, re.S)}


def counters(ports: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    by_switch = {s: tx_bytes(s) for s in {s for s, _ in ports}}
    return {(s, p): by_switch[s][p] for s, p in ports}


def measure(mod: Any, mode: str, seconds: float) -> dict[str, Any]:
    g = mod.build_topology(mod.SPEC)

    def port(a: str, b: str) -> int:
        return int(g.edges[a, b]["ports"][a])

    ups = [(s, port(s, n)) for s in ("p0e0", "p0e1") for n in g[s]
           if g.nodes[n]["role"] == "agg"]
    ups += [(s, port(s, n)) for s in ("p0a0", "p0a1") for n in g[s]
            if g.nodes[n]["role"] == "core"]
    sinks = [(f"p1e{d[3]}", port(f"p1e{d[3]}", d)) for _, d, _, _ in FLOWS]
    rate_bps = float(g.edges[ups[0][0], next(iter(g[ups[0][0]]))]["rate_bps"]) / mod.DILATION
    policy = f"routing: {mode}\ntelemetry_interval_s: 100ms\necn:\n  enabled: false\n"
    with mod.controlled(policy) as (emu, ctl):
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
                    f"iperf3 -c {mod.host_ip(emu, dst)} -p 5201 -u -b {rate} -l 1400 "
                    f"--cport {cport} -t {seconds:g} >/dev/null 2>&1 &")
            before, t0 = counters(ups + sinks), time.monotonic()
            emu.run_in_hosts({h: " ".join(c) + " wait" for h, c in cmds.items()})
            after, dt = counters(ups + sinks), time.monotonic() - t0
        finally:
            for proc in servers:
                mod.stop(proc)
        adapt = [d for d in ctl.decisions() if d["kind"] == "adaptive"]
    util = {f"{s}:{p}": (after[(s, p)] - before[(s, p)]) * 8 / dt / rate_bps for s, p in ups}
    total = sum(after[k] - before[k] for k in sinks) * 8 / dt / 1e6
    return {"mode": mode, "util": util, "mbps": total, "adaptive": len(adapt)}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:]))
    p.add_argument("--seconds", type=float, default=10.0, help="traffic length (default 10)")
    p.add_argument("--out", type=Path, default=ROOT / "results",
                   help="directory for the PNG (default results/)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (run with sudo)")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import ecn_reaction as mod

    mod.ovs.ensure_ovs()
    rows = [measure(mod, mode, args.seconds) for mode in MODES]
    names = list(rows[0]["util"])
    print(f"offered: {', '.join(f'{s}->{d} {r}b/s' for s, d, r, _ in FLOWS)}; "
          f"{args.seconds:g} s")
    print(f"{'uplink':<10} " + " ".join(f"{r['mode']:>9}" for r in rows))
    for n in names:
        print(f"{n:<10} " + " ".join(f"{r['util'][n]:9.2f}" for r in rows))
    print(f"{'total Mb/s':<10} " + " ".join(f"{r['mbps']:9.1f}" for r in rows))
    print(f"{'re-weights':<10} " + " ".join(f"{r['adaptive']:9d}" for r in rows))
    png = args.out / "ecmp_vs_adaptive.png"
    plot(rows, png)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
