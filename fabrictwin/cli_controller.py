"""``fabrictwin controller``: the OpenFlow controller as its own process."""

from __future__ import annotations

import argparse


def cmd_controller(args: argparse.Namespace) -> int:
    from fabrictwin.controllers.process import run_controller

    return run_controller(args)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from fabrictwin.controllers.process import add_arguments

    c = sub.add_parser("controller", parents=[common],
                       help="the OpenFlow 1.3 controller (routing, ECMP, ECN), on 127.0.0.1")
    add_arguments(c)
    c.set_defaults(func=cmd_controller)
