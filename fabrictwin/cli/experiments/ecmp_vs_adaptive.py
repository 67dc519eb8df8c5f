"""ECMP vs adaptive routing under a skewed traffic pattern (root).

Usage: sudo fabrictwin experiment ecmp-vs-adaptive [--seconds 10] [--out results/]

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

import argparse
from pathlib import Path

from fabrictwin.cli.experiments.common import OUT_DEFAULT, describe, ready
from fabrictwin.runs.controlled_fabric import check_seconds
from fabrictwin.runs.ecmp_vs_adaptive import plot, run_ecmp_vs_adaptive, table


def cmd_ecmp_vs_adaptive(args: argparse.Namespace) -> int:
    check_seconds(args.seconds)
    ready(args.out)
    rows = run_ecmp_vs_adaptive(args.seconds)
    print(table(rows, args.seconds))
    png = plot(rows, args.out / "ecmp_vs_adaptive.png")
    print(f"wrote {png}")
    return 0


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="traffic length (default 10)")
    p.add_argument("--out", type=Path, default=OUT_DEFAULT,
                   help="directory for the PNG (default results/)")
    p.set_defaults(func=cmd_ecmp_vs_adaptive)
