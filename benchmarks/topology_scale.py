#!/usr/bin/env python3
"""Build and check k-ary fat-trees of growing size; print time and size of each.

Usage: .venv/bin/python benchmarks/topology_scale.py [K ...]   (default: 16 32 64)

"check" is what `fabrictwin topo check` does: counts, per-tier bandwidth, radix,
reachability, diameter and worst-case latency; max-flow bisection only runs on
graphs of up to 1,500 nodes, so the larger ones use the builder's closed form.
"""

from __future__ import annotations

import resource
import sys
import time

from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.topologies.analysis import check
from fabrictwin.topologies.registry import build_topology


def main(ks: list[int]) -> int:
    lib = ProfileLibrary()
    print(f"{'k':>4} {'hosts':>8} {'switches':>9} {'links':>8} {'build_s':>8} {'check_s':>8} "
          f"{'maxrss_MiB':>10} ok")
    for k in ks:
        t0 = time.perf_counter()
        g = build_topology(f"fat_tree,k={k}", lib)
        t1 = time.perf_counter()
        report = check(g)
        t2 = time.perf_counter()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{k:>4} {report['hosts']:>8} {report['switches']:>9} {report['links']:>8} "
              f"{t1 - t0:>8.2f} {t2 - t1:>8.2f} {rss:>10.0f} {report['ok']}", flush=True)
        if not report["ok"]:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main([int(a) for a in sys.argv[1:]] or [16, 32, 64]))
