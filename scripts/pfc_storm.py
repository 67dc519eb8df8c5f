#!/usr/bin/env python3
"""A PFC storm from a misbehaving receiver, with and without the PFC watchdog (root).

Usage: sudo scripts/pfc_storm.py [--storm-s 3] [--detect-us 10] [--restore-us 25]
                                 [--action drop|forward] [--json] [--out results/]

The fabric of scripts/incast.py (2 senders writing 2 MiB each to h0, PFC on) plus
an innocent 1 MiB flow between two other leaves. 0.1 s after the start h0's NIC goes
bad: it sends PAUSE (maximal quanta, priority 3) every 5 ms for --storm-s seconds.
Without a watchdog the pause spreads hop by hop and the innocent flow stalls for the
whole storm; with one, the port facing h0 stops honouring PAUSE after --detect-us of
hardware time (x the dilation: 10 us is 0.4 s here) and drops (or forwards) h0's
lossless traffic for --restore-us. Prints a table (watchdog trigger delay, innocent
flow's throughput, pauses; drops count the watchdog's own) and writes pfc_storm.png
and pfc_storm.json under --out.
"""

from __future__ import annotations

# `sudo scripts/X.py` runs the system python3: re-run under the project's venv.
import os as _os
import sys as _sys
from pathlib import Path as _Path

_VENV_PY = _Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
if _VENV_PY.exists() and _Path(_sys.prefix).resolve() != _VENV_PY.parents[1].resolve():
    _os.execv(str(_VENV_PY), [str(_VENV_PY), *_sys.argv])

import json
import sys
from dataclasses import replace
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.runs.incast import IncastSpec, run_labelled, watchdog_delays
from fabrictwin.runs.incast_plots import plot_runs, table
from fabrictwin.runs.script_cli import ready, say, script_parser

ROOT = Path(__file__).resolve().parents[1]
EXTRA = (("watchdog_delay_us", "watchdog after (us)", 1),
         ("victim_Gbps", "innocent flow Gb/s", 1))


def main() -> int:
    p = script_parser(__doc__, ROOT / "results")
    p.add_argument("--storm-s", type=float, default=3.0, help="storm length (emulated s)")
    p.add_argument("--detect-us", type=float, default=10.0)
    p.add_argument("--restore-us", type=float, default=25.0)
    p.add_argument("--action", choices=("drop", "forward"), default="drop")
    args = p.parse_args()
    if not args.storm_s > 0:
        sys.exit(f"pfc_storm: error: --storm-s must be positive, got {args.storm_s:g}")
    ready("pfc_storm", args.out)
    try:
        # two senders to the stormer, still sending when the storm begins 0.1 s in: light
        # enough that only the storm trips the watchdog
        base = IncastSpec(senders=2, bytes_per_sender=2 << 20, victim_bytes=1 << 20,
                          storm_s=args.storm_s, storm_delay_s=0.1)
        wd = Watchdog(args.detect_us * 1e3 * base.dilation, args.restore_us * 1e3 * base.dilation,
                      args.action)
        results = run_labelled(((label, replace(base, watchdog=watchdog)) for label, watchdog
                                in (("no watchdog", None), (f"watchdog {args.action}", wd))),
                               say)
        for r in results:
            delays = watchdog_delays(r)
            r.update(victim_Gbps=r["victim"]["throughput_Gbps"],
                     watchdog_delay_us=delays[0] / 1e3 / r["dilation"] if delays else "-")
    except FabricTwinError as e:
        sys.exit(f"pfc_storm: error: {e}")
    except KeyboardInterrupt:
        sys.exit("pfc_storm: interrupted (everything torn down)")
    (args.out / "pfc_storm.json").write_text(json.dumps(results, indent=1) + "\n")
    png = plot_runs(results, args.out / "pfc_storm.png",
                    f"PFC storm from h0 for {args.storm_s:g} s, leaf-spine at D=40000")
    if args.json:
        print(json.dumps([{k: r[k] for k in ("label", "watchdog_delay_us", "victim_Gbps",
                                             "pauses", "lossless_drops", "watchdog_events")}
                          for r in results], indent=1))
    else:
        print(table(results, EXTRA))
        print(f"wrote {png} and {args.out / 'pfc_storm.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
