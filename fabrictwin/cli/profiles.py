"""``fabrictwin profiles [NAME]``: the hardware profiles, or one described."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from fabrictwin.cli.common import library_from_args
from fabrictwin.cli.report import describe


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


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_profiles)
