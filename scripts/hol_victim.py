#!/usr/bin/env python3
"""Head-of-line blocking: a victim flow that shares only one uplink with an incast (root).

Usage: sudo scripts/hol_victim.py [--senders 8] [--json] [--out results/]

The fabric of scripts/incast.py. The victim sends 256 KB from a host on leaf l1 to a
host on leaf l2, a path no incast traffic takes past l1's uplink; the incast (N
senders to h0 on l0) congests only l0's port to h0. Three runs: the victim alone, the
victim beside the incast with PFC on (pauses from the spine stop l1's whole uplink,
victim included), and with PFC + DCQCN. Prints the victim's throughput (hardware
Gb/s) and the runs' drops and pauses; writes hol_victim.png and hol_victim.json.
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
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.incast import IncastSpec, run_labelled
from fabrictwin.runs.incast_plots import plot_runs, table
from fabrictwin.runs.script_cli import ready, say, script_parser

ROOT = Path(__file__).resolve().parents[1]
EXTRA = (("victim_Gbps", "victim Gb/s", 1), ("victim_paused_s", "victim paused s", 2))


def main() -> int:
    p = script_parser(__doc__, ROOT / "results")
    p.add_argument("--senders", type=int, default=8)
    args = p.parse_args()
    ready("hol_victim", args.out)
    runs = (("victim alone", dict(senders=1, bytes_per_sender=4096)),
            ("incast, PFC", dict(senders=args.senders)),
            ("incast, PFC+DCQCN", dict(senders=args.senders, dcqcn=True, cnp_interval_us=5.0)))
    try:
        results = run_labelled(((label, IncastSpec(victim_bytes=256 * 1024, **kw))
                                for label, kw in runs), say)
        for r in results:
            r.update(victim_Gbps=r["victim"]["throughput_Gbps"],
                     victim_paused_s=r["victim"]["paused_s"])
    except FabricTwinError as e:
        sys.exit(f"hol_victim: error: {e}")
    except KeyboardInterrupt:
        sys.exit("hol_victim: interrupted (everything torn down)")
    (args.out / "hol_victim.json").write_text(json.dumps(results, indent=1) + "\n")
    png = plot_runs(results, args.out / "hol_victim.png",
                    "head-of-line blocking of a victim flow, leaf-spine at D=40000")
    if args.json:
        print(json.dumps([{"label": r["label"], **r["victim"], "pauses": r["pauses"],
                           "lossless_drops": r["lossless_drops"]} for r in results], indent=1))
    else:
        print(table(results, EXTRA))
        print(f"wrote {png} and {args.out / 'hol_victim.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
