"""``fabrictwin controller``: the OpenFlow controller as its own process."""

from __future__ import annotations

import argparse

from fabrictwin.controllers.process import add_arguments as controller_arguments
from fabrictwin.controllers.process import run_controller


def cmd_controller(args: argparse.Namespace) -> int:
    return run_controller(args)


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    controller_arguments(p)
    p.set_defaults(func=cmd_controller)
