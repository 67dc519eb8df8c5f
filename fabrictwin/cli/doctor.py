"""``fabrictwin doctor``: what this machine offers the emulator."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from fabrictwin.fabric.probe import probe


def cmd_doctor(args: argparse.Namespace) -> int:
    caps = probe(start_ovs=True)
    if args.json:
        print(json.dumps(caps.as_dict(), indent=2))
        return 0 if caps.root and caps.ovs in ("running", "started") else 1
    t = Table(title="fabrictwin doctor")
    for col in ("capability", "found", "the emulator uses"):
        t.add_column(col)
    for row in caps.rows():
        t.add_row(*row)
    Console().print(t)
    if not caps.root:
        print("run as root (sudo) for the full picture", file=sys.stderr)
    return 0 if caps.root and caps.ovs in ("running", "started") else 1


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
