"""The ``fabrictwin`` command (also ``python -m fabrictwin``).

Bad input ends with one line, ``fabrictwin: error: <what and why>``, and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fabrictwin import __version__, cli_controller, cli_emulate, cli_project, cli_run
from fabrictwin.cli_common import library_from_args
from fabrictwin.errors import FabricTwinError
from fabrictwin.report import describe, hardware_table, print_tables, topology_table
from fabrictwin.scenario import DEFAULT_SCENARIO, load_scenario, scenario_topology
from fabrictwin.topologies.analysis import check
from fabrictwin.topologies.export import draw_png, to_graphml
from fabrictwin.topologies.registry import BUILDERS, build_topology

log = logging.getLogger("fabrictwin")


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
    out.mkdir(parents=True, exist_ok=True)
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


def cmd_profiles(args: argparse.Namespace) -> int:
    lib = library_from_args(args)
    if args.name:
        part = lib.load(args.name)
        print(f"{args.name} ({lib.find(args.name)}):\n  {describe(part)}")
        return 0
    t = Table(title="hardware profiles")
    for col in ("kind", "name", "description", "file"):
        t.add_column(col)
    for p in lib.list():
        t.add_row(p.kind, p.name, p.description, str(p.path))
    Console().print(t)
    return 0


def demo_run_args(path: Path, args: argparse.Namespace) -> argparse.Namespace:
    """What `fabrictwin run SCENARIO` would parse, with every option at its default."""
    return argparse.Namespace(
        scenario=str(path), collective=None, topo=None, sizes=None, algo=None,
        dilation=None, dcqcn=False, pfc=False, static=False, json=False, out="results",
        profiles=getattr(args, "profiles", None), func=cli_run.cmd_run)


def cmd_demo(args: argparse.Namespace) -> int:
    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    scenario = load_scenario(path)
    g = scenario_topology(scenario, path, library_from_args(args))
    report = check(g)
    console = Console()
    console.print(f"[bold]scenario {scenario.name}[/bold]: {scenario.description}")
    print_tables(topology_table(report), hardware_table(g.graph["hardware"].items()),
                 console=console)
    if not report["ok"]:
        return 1
    if args.no_emulation:
        return 0
    if os.geteuid() != 0:
        console.print("emulation skipped: it needs root (sudo make demo)")
        return 0
    if scenario.collective:
        return cli_run.cmd_run(demo_run_args(path, args))
    summary = cli_emulate.run_emulation(g, None, False, None, Console(stderr=True))
    console.print(cli_emulate.summary_table(summary))
    return 0 if summary["ok"] else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fabrictwin", description="Network fabric emulator and "
                                "protocol testbed for AI-factory networks.")
    p.add_argument("--version", action="version", version=f"fabrictwin {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    p.add_argument("--profiles", action="append", metavar="DIR",
                   help="directory of user hardware profiles (also $FABRICTWIN_PROFILES)")
    # --profiles works before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profiles", action="append", metavar="DIR", default=argparse.SUPPRESS,
                        help="directory of user hardware profiles (also $FABRICTWIN_PROFILES)")
    sub = p.add_subparsers(dest="command", required=True)

    topo = sub.add_parser("topo", help="build, check and draw topologies").add_subparsers(
        dest="topo_command", required=True)
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

    pr = sub.add_parser("profiles", parents=[common],
                        help="list hardware profiles, or describe one")
    pr.add_argument("name", nargs="?")
    pr.set_defaults(func=cmd_profiles)

    d = sub.add_parser("demo", parents=[common],
                       help="the default scenario: report, then emulation (as root)")
    d.add_argument("--scenario", help="a scenario YAML file instead of the default")
    d.add_argument("--no-emulation", action="store_true",
                   help="only the topology and hardware report")
    d.set_defaults(func=cmd_demo)

    # Larger commands live in their own modules and add their parsers here.
    cli_emulate.register(sub, common)
    cli_controller.register(sub, common)
    cli_run.register(sub, common)
    cli_project.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FabricTwinError as exc:
        print(f"fabrictwin: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fabrictwin: interrupted", file=sys.stderr)
        return 130
