#!/usr/bin/env python3
"""Soak: many consecutive short runs, and what the machine holds before and after (root).

Usage: sudo .venv/bin/python benchmarks/soak.py [--runs 50] [--topo SPEC] [--size 64K]

Each run is a whole `fabrictwin run` (bring-up, controller, agents, teardown) of an
all-reduce on a small fabric. Before the first run, after the first (everything warmed
up: OVS's caches, Python's imports) and after the last, it counts the open file
descriptors and processes on the machine, the network interfaces and network
namespaces, the Open vSwitch bridges and ports, the run-state entries under
/run/fabrictwin, and the resident memory of ovs-vswitchd and ovsdb-server. Prints them
side by side with the per-run wall times (min, median, max) and a last line
`growth=<none|what grew>` comparing the last run against the first (one-off set-up
costs of the first run are not leaks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
RUN_STATE = Path("/run/fabrictwin")
#: growth tolerated between the first and the last run: RSS of the OVS daemons varies with
#: their caches by a few MB; counts must not move at all
RSS_SLACK_KB = 8 * 1024


def _count(cmd: list[str]) -> int:
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return len([x for x in out.splitlines() if x.strip()])


def _rss_kb(name: str) -> int:
    total = 0
    for pid in subprocess.run(["pidof", name], capture_output=True, text=True).stdout.split():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def snapshot() -> dict[str, int]:
    """What the machine holds now."""
    fds = procs = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            procs += 1
            with contextlib.suppress(OSError):  # a process that just ended
                fds += len(os.listdir(p / "fd"))
    return {
        "processes": procs,
        "open fds": fds,
        "interfaces": _count(["ip", "-o", "link"]),
        "netns (named)": _count(["ip", "netns", "list"]),
        "ovs bridges": _count(["ovs-vsctl", "list-br"]),
        "ovs ports": sum(_count(["ovs-vsctl", "list-ports", br]) for br in
                         subprocess.run(["ovs-vsctl", "list-br"], capture_output=True,
                                        text=True).stdout.split()),
        "run-state entries": len(list(RUN_STATE.iterdir())) if RUN_STATE.is_dir() else 0,
        "ovs-vswitchd RSS kB": _rss_kb("ovs-vswitchd"),
        "ovsdb-server RSS kB": _rss_kb("ovsdb-server"),
    }


def one_run(topo: str, size: str, out: Path) -> tuple[float, bool]:
    t0 = time.perf_counter()
    proc = subprocess.run([PY, "-m", "fabrictwin", "run", "--collective", "all_reduce",
                           "--topo", topo, "--sizes", size, "--json", "--out", str(out)],
                          capture_output=True, text=True)
    return time.perf_counter() - t0, proc.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--topo", default="leaf_spine,leaves=1,spines=0,hosts_per_leaf=2")
    ap.add_argument("--size", default="64K")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (sudo)", file=sys.stderr)
        return 2
    if args.runs < 2:
        print("soak: --runs must be at least 2", file=sys.stderr)
        return 2
    before = snapshot()
    walls, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="ft-soak-") as tmp:
        for i in range(args.runs):
            wall, ok = one_run(args.topo, args.size, Path(tmp))
            walls.append(wall)
            failed += not ok
            if i == 0:
                first = snapshot()
            print(f"run {i + 1}/{args.runs}: {wall:.1f} s {'ok' if ok else 'FAILED'}",
                  file=sys.stderr, flush=True)
    last = snapshot()
    print(f"{'':<22}{'before':>12}{'after run 1':>14}{f'after run {args.runs}':>16}")
    for key in before:
        print(f"{key:<22}{before[key]:>12}{first[key]:>14}{last[key]:>16}")
    print(f"wall per run: min {min(walls):.1f} s, median {statistics.median(walls):.1f} s, "
          f"max {max(walls):.1f} s; {failed} of {args.runs} runs failed")
    grew = [k for k in before if last[k] > first[k] + (RSS_SLACK_KB if "RSS" in k else 0)]
    left = [k for k in ("interfaces", "ovs bridges", "ovs ports", "run-state entries",
                        "netns (named)") if last[k] != before[k]]
    print(f"growth={','.join(grew) or 'none'} leftovers={','.join(left) or 'none'} "
          f"failed={failed}")
    return 0 if not grew and not left and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
