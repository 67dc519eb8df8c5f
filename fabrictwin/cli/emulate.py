"""``fabrictwin emulate``: bring a topology up, check all-pairs reachability, tear down."""

from __future__ import annotations

import argparse
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fabrictwin.cli.common import library_from_args
from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.commands import route_source
from fabrictwin.linux.ssh import Server
from fabrictwin.runs.session import Cluster, check_dilation, emulate
from fabrictwin.topologies.placement import place
from fabrictwin.topologies.registry import build_topology
from fabrictwin.units import format_latency, format_rate


def cmd_emulate(args: argparse.Namespace) -> int:
    check_dilation(args.dilation)  # bad input first, before any root check
    g = build_topology(args.spec, library_from_args(args))
    err = Console(stderr=True)

    def inside(emu: object) -> None:
        if args.cli:
            from mininet.cli import CLI
            CLI(emu.net)  # type: ignore[attr-defined]
        elif args.hold:
            err.print(f"up; holding for {args.hold:g} s (Ctrl-C ends it)")
            time.sleep(args.hold)

    summary = run_emulation(g, args.dilation, args.recalibrate, inside, err,
                            quiet=args.cli, controller=not args.static,
                            profiles=getattr(args, "profiles", None),
                            cluster=cluster_from_args(g, args.servers, args.ssh_config))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        Console().print(summary_table(summary))
    return 0 if summary["ok"] else 1


def cluster_from_args(g: Any, servers: str | None, ssh_config: str | None) -> Cluster | None:
    """``--servers A,B``: the placement over this machine and those servers, and how to
    reach them (root over ssh; tunnels from this machine's address towards each)."""
    if not servers:
        if ssh_config:
            raise FabricTwinError("--ssh-config: only with --servers")
        return None
    addresses = []
    for a in servers.split(","):
        try:
            addresses.append(str(ipaddress.IPv4Address(a.strip())))
        except ValueError:
            raise FabricTwinError(f"--servers: {a!r} is not an IPv4 address") from None
    if ssh_config and not Path(ssh_config).is_file():
        raise FabricTwinError(f"--ssh-config: no file {ssh_config}")
    where = place(g, 1 + len(addresses))
    return where, [Server(a, route_source(a), ssh_config or "") for a in addresses]


def run_emulation(g: object, dilation: float | None, recalibrate: bool, inside: object,
                  err: Console, quiet: bool = False, controller: bool = True,
                  profiles: list[str] | None = None, cluster: Cluster | None = None) -> dict:
    """emulate() with a live status line on stderr (none when Mininet's CLI takes over)."""

    kw = {"recalibrate": recalibrate, "controller": controller, "profiles": profiles,
          "inside": inside, "cluster": cluster}
    if quiet:
        return emulate(g, dilation, progress=err.print, **kw)  # type: ignore[arg-type]
    with err.status("starting") as status:
        return emulate(g, dilation, progress=status.update, **kw)  # type: ignore[arg-type]


def summary_table(s: dict) -> Table:
    t = Table(title=f"emulation {s['spec']}", show_header=False)
    t.add_column("figure", style="bold")
    t.add_column("value")
    cal = s["calibration"]
    t.add_row("dilation D", f"{s['dilation']:.4g} (rates / D, latencies x D)")
    t.add_row("hosts / switches / links", f"{s['hosts']} / {s['switches']} / {s['links']}")
    t.add_row("datapath / delay", f"{s['datapath']} / {s['delay_mechanism']} "
              f"({s['delayed_links']} delayed links)")
    t.add_row("bring-up", f"{s['bringup_s']:.2f} s ({s.get('forwarding', 'static flows')})")
    r = s["reachability"]
    t.add_row("all-pairs reachability", ("[green]ok[/green]" if r["ok"] else "[red]FAIL[/red]")
              + f" {r['pairs'] - r['failed']}/{r['pairs']} pairs in {r['time_s']:.2f} s")
    t.add_row("calibration", f"{format_latency(cal['hop_latency_ns'])} per hop, "
              f"{format_rate(cal['forward_rate_bps'])} per hop")
    t.add_row("CPU", f"mean {s['cpu_mean']:.0%}, peak {s['cpu_peak']:.0%}"
              + (f"  [red]cpu_bound ({s.get('cpu_limit')}): figures untrustworthy[/red]"
                 if s["cpu_bound"] else ""))
    for note in s["notes"]:
        t.add_row("note", note)
    return t




def add_arguments(e: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    e.add_argument("spec", help="topology spec, e.g. fat_tree,k=4")
    e.add_argument("--dilation", type=float, help="time dilation D (default: automatic)")
    e.add_argument("--cli", action="store_true", help="drop into Mininet's CLI once up")
    e.add_argument("--hold", type=float, default=0.0, metavar="S",
                   help="keep the emulation up for S seconds before tearing down")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.add_argument("--static", action="store_true",
                   help="static flow tables from the plan instead of the SDN controller")
    e.add_argument("--recalibrate", action="store_true",
                   help="measure the emulator's overheads again even if fresh")
    e.add_argument("--servers", metavar="IP[,IP]",
                   help="cluster mode: other emulation servers (ssh as root, Open vSwitch "
                        "running); hyper-nodes and leaves whole, cut on scale-out links")
    e.add_argument("--ssh-config", metavar="FILE",
                   help="ssh -F file for --servers (key, known host)")
    e.set_defaults(func=cmd_emulate)
