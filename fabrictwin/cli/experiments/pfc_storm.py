"""A PFC storm from a misbehaving receiver, with and without the PFC watchdog (root).

Usage: sudo fabrictwin experiment pfc-storm [--storm-s 3] [--detect-us 10] [--restore-us 25]
                                            [--action drop|forward] [--json] [--out results/]

The fabric of `fabrictwin experiment incast` (2 senders writing 2 MiB each to h0, PFC on)
plus an innocent 1 MiB flow between two other leaves. 0.1 s after the start h0's NIC goes
bad: it sends PAUSE (maximal quanta, priority 3) every 5 ms for --storm-s seconds.
Without a watchdog the pause spreads hop by hop and the innocent flow stalls for the
whole storm; with one, the port facing h0 stops honouring PAUSE after --detect-us of
hardware time (x the dilation: 10 us is 0.4 s here) and drops (or forwards) h0's
lossless traffic for --restore-us. Prints a table (watchdog trigger delay, innocent
flow's throughput, pauses; drops count the watchdog's own) and writes pfc_storm.png
and pfc_storm.json under --out.
"""

from __future__ import annotations

import argparse

from fabrictwin.cli.experiments.common import add_json_out, describe, ready, report_lossless, say
from fabrictwin.runs.lossless import check_runs
from fabrictwin.runs.pfc_storm import EXTRA, brief, run_pfc_storm, storm_runs


def cmd_pfc_storm(args: argparse.Namespace) -> int:
    runs = storm_runs(args.storm_s, args.detect_us, args.restore_us, args.action)
    check_runs(runs)
    ready(args.out)
    results = run_pfc_storm(runs, say)
    return report_lossless(
        args, "pfc_storm", results,
        f"PFC storm from h0 for {args.storm_s:g} s, leaf-spine at D=40000", brief, EXTRA)


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("--storm-s", type=float, default=3.0, help="storm length (emulated s)")
    p.add_argument("--detect-us", type=float, default=10.0)
    p.add_argument("--restore-us", type=float, default=25.0)
    p.add_argument("--action", choices=("drop", "forward"), default="drop")
    p.set_defaults(func=cmd_pfc_storm)
