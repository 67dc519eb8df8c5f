"""``fabrictwin topo check|show|list``: build, check and draw topologies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fabrictwin.cli.common import library_from_args
from fabrictwin.cli.report import hardware_table, print_tables, topology_table
from fabrictwin.errors import FabricTwinError
from fabrictwin.topologies.analysis import check
from fabrictwin.topologies.export import draw_png, to_graphml
from fabrictwin.topologies.registry import BUILDERS, build_topology


def cmd_topo_check(args: argparse.Namespace) -> int:
    g = build_topology(args.spec, library_from_args(args))
    report = check(g, exact=args.exact)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_tables(topology_table(report))
    return 0 if report["ok"] else 1


def cmd_topo_show(args: argparse.Namespace) -> int:
    g = build_topology(args.spec, library_from_args(args))
    report = check(g, exact=args.exact)
    print_tables(topology_table(report), hardware_table(g.graph["hardware"].items()))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FabricTwinError(f"--out: cannot create {out}: {exc.strerror}") from None
    stem = args.spec.split(",")[0]
    graphml = out / f"{stem}.graphml"
    to_graphml(g, graphml)
    written = [graphml]
    if draw_png(g, out / f"{stem}.png"):
        written.append(out / f"{stem}.png")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    written.append(out / f"{stem}.json")
    Console().print("wrote " + ", ".join(str(p) for p in written))
    return 0 if report["ok"] else 1


def cmd_topo_list(args: argparse.Namespace) -> int:
    console = Console()
    for b in BUILDERS.values():
        t = Table(title=f"{b.name}: {b.doc}", title_justify="left")
        for col in ("parameter", "type", "default", "meaning"):
            t.add_column(col)
        for name, p in b.params.items():
            t.add_row(name, p.kind, "-" if p.default is None else str(p.default), p.doc)
        console.print(t)
    return 0


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    topo = p.add_subparsers(dest="topo_command", required=True)
    c = topo.add_parser("check", parents=[common],
                        help="figures and checks of a topology; exit 1 if one fails")
    c.add_argument("spec", help="e.g. fat_tree,k=4 (see `fabrictwin topo list`)")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("--exact", action="store_true",
                   help="compute paths from every host and bisection by max flow (slow)")
    c.set_defaults(func=cmd_topo_check)
    s = topo.add_parser("show", parents=[common], help="table, PNG drawing and GraphML export")
    s.add_argument("spec")
    s.add_argument("--out", default="results/topo", help="output directory")
    s.add_argument("--exact", action="store_true")
    s.set_defaults(func=cmd_topo_show)
    topo.add_parser("list", help="builders and their parameters").set_defaults(
        func=cmd_topo_list)
