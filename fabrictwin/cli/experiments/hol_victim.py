"""Head-of-line blocking: a victim flow that shares only one uplink with an incast (root).

Usage: sudo fabrictwin experiment hol-victim [--senders 8] [--json] [--out results/]

The fabric of `fabrictwin experiment incast`. The victim sends 256 KB from a host on leaf
l1 to a host on leaf l2, a path no incast traffic takes past l1's uplink; the incast (N
senders to h0 on l0) congests only l0's port to h0. Three runs: the victim alone, the
victim beside the incast with PFC on (pauses from the spine stop l1's whole uplink,
victim included), and with PFC + DCQCN. Prints the victim's throughput (hardware
Gb/s) and the runs' drops and pauses; writes hol_victim.png and hol_victim.json.
"""

from __future__ import annotations

import argparse

from fabrictwin.cli.experiments.common import add_json_out, describe, ready, report_lossless, say
from fabrictwin.runs.hol_victim import EXTRA, brief, hol_runs, run_hol_victim
from fabrictwin.runs.lossless import check_runs


def cmd_hol_victim(args: argparse.Namespace) -> int:
    runs = hol_runs(args.senders)
    check_runs(runs)
    ready(args.out)
    results = run_hol_victim(runs, say)
    return report_lossless(
        args, "hol_victim", results,
        "head-of-line blocking of a victim flow, leaf-spine at D=40000", brief, EXTRA)


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("--senders", type=int, default=8)
    p.set_defaults(func=cmd_hol_victim)
