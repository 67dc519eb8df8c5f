"""``fabrictwin clean``: remove leftovers of killed runs, and nothing that is not ours."""

from __future__ import annotations

import argparse

from fabrictwin.fabric.state import clean
from fabrictwin.linux.commands import require_root


def cmd_clean(args: argparse.Namespace) -> int:
    require_root()
    removed = clean(args.run)
    for item in removed:
        print(f"removed {item}")
    print(f"fabrictwin clean: {len(removed)} leftovers removed")
    return 0


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.add_argument("--run", metavar="ID", help="only this (dead) run's leftovers: its id, "
                   "ft<pid>, as its bridges' external_ids and /run/fabrictwin name it")
    p.set_defaults(func=cmd_clean)
