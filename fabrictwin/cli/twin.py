"""``fabrictwin twin WORKLOAD.yaml``: training step or serving figures on catalogue hardware.

``--compare A,B`` runs the workload on each system and writes a table and a PNG.
Bad input ends with one line naming the key or option (exit 2, :mod:`.main`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

from fabrictwin.cli.common import library_from_args
from fabrictwin.errors import FabricTwinError
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.spec import load_workload

log = logging.getLogger(__name__)
DEFAULT_OUT = "results/twin"


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.add_argument("workload", help="workload YAML (or a shipped example's name)")
    p.add_argument("--system", metavar="NAME", help="hyper-node profile (default: the file's)")
    p.add_argument("--switch", metavar="NAME", help="scale-out switch profile")
    p.add_argument("--nic-gbps", metavar="G", help="NIC line rate, Gb/s per direction")
    p.add_argument("--compare", metavar="A,B,...", help="systems to compare (table and PNG)")
    p.add_argument("--interference", metavar="FILE",
                   help="apply the slowdowns an emulated run measured with other traffic "
                        "on the fabric (fabrictwin experiment interference's JSON)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="where --compare plots")
    p.set_defaults(func=cmd_twin)


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def run_one(args: argparse.Namespace, system: str,
            slow: dict[str, float] | None = None) -> dict[str, Any]:
    from fabrictwin.workload.serving import serve
    from fabrictwin.workload.training import train_step

    lib = library_from_args(args)
    w = load_workload(args.workload)
    try:
        hn = lib.load(system, "hypernode")
    except FabricTwinError as exc:
        raise FabricTwinError(f"--system: {exc}") from None
    switch = lib.load(args.switch or w.system.switch, "switch")
    nic = None
    if args.nic_gbps is not None:
        try:
            nic = float(args.nic_gbps) * 1e9
        except ValueError:
            raise FabricTwinError(f"--nic-gbps: expected a number, got {args.nic_gbps!r}") \
                from None
        if not (nic > 0 and math.isfinite(nic)):
            raise FabricTwinError(f"--nic-gbps: must be positive, got {args.nic_gbps}")
    slow = slow or {}
    cluster = Cluster(hn, switch, nic, interference=slow)
    kind = "training" if w.training else "inference"
    out = train_step(w, cluster).as_dict() if w.training else serve(w, cluster)
    extra = {"interference": {"source": str(args.interference), **slow}} if slow else {}
    return {"workload": w.name, "kind": kind, "system": hn.name, **extra, **out}


def cmd_twin(args: argparse.Namespace) -> int:
    w = load_workload(args.workload)
    slow = None
    if getattr(args, "interference", None):  # a bad file: one line, before any work
        from fabrictwin.runs.interference import read_slowdowns

        slow = read_slowdowns(Path(args.interference))
    systems = [s.strip() for s in args.compare.split(",") if s.strip()] if args.compare \
        else [args.system or w.system.name]
    if not systems:
        raise FabricTwinError("--compare: give system names separated by commas")
    results = [_clean(run_one(args, s, slow)) for s in systems]
    if args.compare:
        from fabrictwin.cli.twin_report import plot_compare
        plot = plot_compare(results, Path(args.out))
        if args.json:
            print(json.dumps({"results": results, "plot": str(plot)}, indent=2))
        else:
            from fabrictwin.cli.twin_report import print_compare
            print_compare(results)
            print(f"wrote {plot}")
        return 0
    if args.json:
        print(json.dumps(results[0], indent=2))
    else:
        from fabrictwin.cli.twin_report import print_one
        print_one(results[0])
    return 0
