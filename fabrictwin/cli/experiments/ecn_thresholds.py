"""ECN thresholds under a fixed 4:1 incast: Kmin/Kmax swept over three settings (root).

Usage: sudo fabrictwin experiment ecn-thresholds [--seconds 4] [--out results/]

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

import argparse
from pathlib import Path

from fabrictwin.cli.experiments.common import OUT_DEFAULT, describe, ready
from fabrictwin.runs.controlled_fabric import check_seconds
from fabrictwin.runs.ecn_thresholds import plot, run_ecn_thresholds, table


def cmd_ecn_thresholds(args: argparse.Namespace) -> int:
    check_seconds(args.seconds)
    ready(args.out)
    rows = run_ecn_thresholds(args.seconds)
    print(table(rows, args.seconds))
    png = plot(rows, args.out / "ecn_thresholds.png")
    print(f"wrote {png}")
    return 0


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    p.add_argument("--seconds", type=float, default=4.0, help="incast length (default 4)")
    p.add_argument("--out", type=Path, default=OUT_DEFAULT,
                   help="directory for the PNG (default results/)")
    p.set_defaults(func=cmd_ecn_thresholds)
