"""``fabrictwin demo``: the default scenario's report, then its emulation (as root)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from fabrictwin.cli.common import library_from_args
from fabrictwin.cli.emulate import run_emulation, summary_table
from fabrictwin.cli.report import hardware_table, print_tables, topology_table
from fabrictwin.cli.run import cmd_run
from fabrictwin.runs.scenario import (
    DEFAULT_SCENARIO,
    TWO_DC_SCENARIO,
    load_scenario,
    scenario_topology,
)
from fabrictwin.topologies.analysis import check


def demo_run_args(path: Path, args: argparse.Namespace) -> argparse.Namespace:
    """What `fabrictwin run SCENARIO` would parse, with every option at its default."""
    return argparse.Namespace(
        scenario=str(path), collective=None, topo=None, sizes=None, algo=None,
        dilation=None, dcqcn=False, cc=None, pfc=False, dci_lossy=False, static=False,
        wire_only=False, json=False, fault=None, servers=None, ssh_config=None,
        out="results",
        profiles=getattr(args, "profiles", None), func=cmd_run)


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
        rc = cmd_run(demo_run_args(path, args))
        if args.scenario:
            return rc
        # the third tier: the same collective between two DCs over 10 km of DCI
        across = load_scenario(TWO_DC_SCENARIO)
        console.print(f"\n[bold]scenario {across.name}[/bold]: {across.description}")
        return max(rc, cmd_run(demo_run_args(TWO_DC_SCENARIO, args)))
    summary = run_emulation(g, None, False, None, Console(stderr=True))
    console.print(summary_table(summary))
    return 0 if summary["ok"] else 1


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", help="a scenario YAML file instead of the default")
    p.add_argument("--no-emulation", action="store_true",
                   help="only the topology and hardware report")
    p.set_defaults(func=cmd_demo)
