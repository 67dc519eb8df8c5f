#!/usr/bin/env python3
"""N:1 incast of the lossless class through the emulated fabric, PFC and DCQCN on or off (root).

Usage: sudo scripts/incast.py [--senders 8] [--pfc on|off] [--dcqcn on|off]
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

# `sudo scripts/X.py` runs the system python3: re-run under the project's venv.
import os as _os
import sys as _sys
from pathlib import Path as _Path

_VENV_PY = _Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
if _VENV_PY.exists() and _Path(_sys.prefix).resolve() != _VENV_PY.parents[1].resolve():
    _os.execv(str(_VENV_PY), [str(_VENV_PY), *_sys.argv])

import argparse
import json
import sys
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.incast import IncastSpec, run_labelled
from fabrictwin.runs.incast_plots import plot_runs, table
from fabrictwin.runs.script_cli import ready, say, script_parser
from fabrictwin.units import parse_size_bytes

ROOT = Path(__file__).resolve().parents[1]
BRIEF = ("lossless_drops", "pauses", "pause_frames", "cnps", "max_queue_bytes",
         "headroom_used", "completion_us", "retransmits", "psn_errors", "ovs_port_drops",
         "ovs_socket_drops", "ovs_datapath_lost", "data_ok", "pfc", "dcqcn")


def on_off(v: str) -> bool:
    if v not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {v!r}")
    return v == "on"


def main() -> int:
    p = script_parser(__doc__, ROOT / "results")
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
    args = p.parse_args()
    ready("incast", args.out)
    try:
        size = parse_size_bytes(args.bytes)
        if args.compare and args.compare_alpha:
            raise FabricTwinError("--compare and --compare-alpha: one at a time")
        if args.alpha is not None and (args.compare or args.compare_alpha or not args.pfc):
            raise FabricTwinError("--alpha sets the thresholds of one run with PFC on: "
                                  "not with --compare, --compare-alpha or --pfc off")
        runs = ([(False, False, None), (True, False, None), (True, True, None)]
                if args.compare else
                [(True, False, a) for a in (None, 0.125, 1.0)] if args.compare_alpha
                else [(args.pfc, args.dcqcn, args.alpha)])
        results = run_labelled(
            ((f"PFC {'on' if pfc else 'off'}" + (" + DCQCN" if dcqcn else "")
              + ("" if alpha is None or not pfc else f", alpha {alpha:g}"),
              IncastSpec(senders=args.senders, bytes_per_sender=size, pfc=pfc, dcqcn=dcqcn,
                         cnp_interval_us=args.cnp_interval_us, alpha=alpha))
             for pfc, dcqcn, alpha in runs), say)
    except FabricTwinError as e:
        sys.exit(f"incast: error: {e}")
    except KeyboardInterrupt:
        sys.exit("incast: interrupted (everything torn down)")
    (args.out / "incast.json").write_text(json.dumps(results, indent=1) + "\n")
    png = plot_runs(results, args.out / "incast.png",
                    f"{args.senders}:1 incast, {args.bytes} per sender, leaf-spine at D=40000")
    if args.json:
        brief = [{k: r[k] for k in BRIEF} for r in results]
        print(json.dumps(brief[0] if len(brief) == 1 else brief, indent=1))
    else:
        print(table(results))
        print(f"wrote {png} and {args.out / 'incast.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
