"""N:1 incast of the lossless class through the emulated fabric, PFC and DCQCN on or off (root).

Usage: sudo fabrictwin experiment incast [--senders 8] [--pfc on|off] [--dcqcn on|off]
                                         [--bytes 512K] [--alpha A] [--compare | --compare-alpha]
                                         [--json] [--out results/]

Brings up ``leaf_spine,leaves=3,spines=1,hosts_per_leaf=5,uplink_rate=400G,cable_m=2`` at
dilation 40000 (10 Mb/s links), the PFC daemon beside the switches (600 KB of
lossless buffer per switch) and N senders each writing --bytes to h0 at the same
instant. Prints one table row per run (drops at every hop, PFC pauses, CNPs, the
largest switch queue, the most of its headroom a pausing port used, completion in
hardware time, retransmissions and PSN gaps at the receiver) and writes incast.png
(queue depth, per-flow goodput and PFC state over time) and incast.json under --out.
--compare runs off / on / on+DCQCN in turn. --alpha A makes the PFC thresholds
dynamic (XOFF = A x the free shared buffer); --compare-alpha runs static, alpha 1/8
and alpha 1 (PFC on, DCQCN off).
--json prints the result(s) as JSON instead of the table.
"""

from __future__ import annotations

import argparse

from fabrictwin.cli.experiments.common import add_json_out, describe, ready, report_lossless, say
from fabrictwin.runs.incast import brief, incast_runs
from fabrictwin.runs.lossless import check_runs, run_labelled
from fabrictwin.units import parse_size_bytes


def on_off(v: str) -> bool:
    if v not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {v!r}")
    return v == "on"


def cmd_incast(args: argparse.Namespace) -> int:
    runs = incast_runs(args.senders, parse_size_bytes(args.bytes, "--bytes"), pfc=args.pfc,
                       dcqcn=args.dcqcn, alpha=args.alpha,
                       cnp_interval_us=args.cnp_interval_us, compare=args.compare,
                       compare_alpha=args.compare_alpha)
    check_runs(runs)
    ready(args.out)
    results = run_labelled(runs, say)
    return report_lossless(
        args, "incast", results,
        f"{args.senders}:1 incast, {args.bytes} per sender, leaf-spine at D=40000", brief)


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("--senders", type=int, default=8)
    p.add_argument("--pfc", type=on_off, default=True, metavar="on|off")
    p.add_argument("--dcqcn", type=on_off, default=False, metavar="on|off")
    p.add_argument("--bytes", default="512K", help="bytes per sender (default 512K)")
    p.add_argument("--cnp-interval-us", type=float, default=5.0,
                   help="the receivers' minimum time between CNPs per QP (default 5 us; "
                        "the DCQCN paper's 50 us reacts only to incasts of many ms)")
    p.add_argument("--alpha", type=float, default=None,
                   help="dynamic PFC thresholds: XOFF = alpha x the free shared buffer")
    p.add_argument("--compare", action="store_true", help="run off, on, on+DCQCN")
    p.add_argument("--compare-alpha", action="store_true",
                   help="run static, alpha 1/8 and alpha 1 thresholds")
    p.set_defaults(func=cmd_incast)
