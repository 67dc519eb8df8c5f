#!/usr/bin/env python3
"""Bring-up speed: stock Mininet vs fabrictwin on the same k=8 fat-tree, in one run (root).

Usage: sudo .venv/bin/python benchmarks/bringup.py [--k 8] [--skip-hypernode]

Both sides build 80 userspace-OVS switches, 128 hosts and 384 links, load the
same forwarding rules and run the same all-pairs fping check. "Up" is the time
from launching the command to every host having reached every other. Stock is
`mn --custom benchmarks/stock_topo.py` (Mininet 2.3.0, one command per step);
fabrictwin is `fabrictwin emulate` (batched). Also reports the GB200 NVL72
hyper-node, full crossbar and plane-collapsed. Last line: ratio=<fabrictwin/stock>.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
FT = [PY, "-m", "fabrictwin"]


def stock(k: int) -> tuple[float, float]:
    """(seconds until all pairs reachable, seconds of the whole command) for stock mn."""
    start = time.time()
    proc = subprocess.run([PY, "/usr/bin/mn", "--twait", "0", "--custom",
                           str(ROOT / "benchmarks/stock_topo.py"), "--topo", f"ft,{k}",
                           "--switch", "ovs,datapath=user", "--controller", "none", "--mac",
                           "--arp", "--test", "reach"], capture_output=True, text=True,
                          cwd=ROOT)
    total = time.time() - start
    m = re.search(r"reach: pairs=(\d+) failed=(\d+) .* at=([0-9.]+)", proc.stderr)
    if proc.returncode != 0 or not m:
        sys.exit(f"stock mn failed: {proc.stderr.strip().splitlines()[-1:]}")
    if int(m.group(2)):
        sys.exit(f"stock mn: {m.group(2)} of {m.group(1)} pairs unreachable")
    return float(m.group(3)) - start, total


def ours(spec: str, *extra: str) -> tuple[float, float, dict]:
    start = time.time()
    proc = subprocess.run([*FT, "emulate", spec, "--json", *extra], capture_output=True,
                          text=True, cwd=ROOT)
    total = time.time() - start
    if proc.returncode != 0:
        sys.exit(f"fabrictwin emulate {spec} failed: {proc.stderr.strip()[-300:]}")
    summary = json.loads(proc.stdout)
    return summary["reachable_at_unix"] - start, total, summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--skip-hypernode", action="store_true")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bringup.py needs root: sudo .venv/bin/python benchmarks/bringup.py")
    spec = f"fat_tree,k={args.k}"
    print(f"{'what':<44} {'up_s':>7} {'total_s':>8}  detail", flush=True)
    s_up, s_total = stock(args.k)
    print(f"{'stock mn --custom ' + spec:<44} {s_up:>7.2f} {s_total:>8.2f}", flush=True)
    f_up, f_total, summary = ours(spec, "--dilation", "1", "--static")
    print(f"{'fabrictwin emulate ' + spec:<44} {f_up:>7.2f} {f_total:>8.2f}  "
          f"bring-up {summary['bringup_s']:.2f} s, reach {summary['reachability']['time_s']:.2f}"
          f" s", flush=True)
    if not args.skip_hypernode:
        for hn in ("hypernode,profile=gb200-nvl72", "hypernode,profile=gb200-nvl72,collapse=true"):
            up, total, s = ours(hn)
            print(f"{'fabrictwin emulate ' + hn:<44} {up:>7.2f} {total:>8.2f}  "
                  f"{s['links']} links, bring-up {s['bringup_s']:.2f} s", flush=True)
    print(f"ratio={f_up / s_up:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
