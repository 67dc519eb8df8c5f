"""The ``fabrictwin`` command (also ``python -m fabrictwin``).

Subcommands live one per module in this package behind a lazy registry
(:data:`COMMANDS`): only the module of the command being run is imported, so
``fabrictwin topo check`` never loads Mininet, os-ken or scapy.

Bad input ends with one line, ``fabrictwin: error: <what and why>``, and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from fabrictwin import __version__
from fabrictwin.errors import FabricTwinError

log = logging.getLogger("fabrictwin")
PROFILES_HELP = "directory of user hardware profiles (also $FABRICTWIN_PROFILES)"


@dataclass(frozen=True)
class Command:
    """A subcommand: the module holding it, and its one-line help.

    The module defines ``add_arguments(parser, common)``, which adds the command's
    options and sets ``func`` (``common`` is the parent parser carrying ``--profiles``).
    """

    module: str
    help: str
    profiles: bool = True  # takes --profiles


COMMANDS: dict[str, Command] = {
    "topo": Command("fabrictwin.cli.topo", "build, check and draw topologies", False),
    "profiles": Command("fabrictwin.cli.profiles", "list hardware profiles, or describe one"),
    "demo": Command("fabrictwin.cli.demo",
                    "the default scenario: report, then emulation (as root)"),
    "emulate": Command("fabrictwin.cli.emulate",
                       "bring a topology up in Mininet, check reachability, tear down"),
    "doctor": Command("fabrictwin.cli.doctor", "what this machine offers the emulator", False),
    "clean": Command("fabrictwin.cli.clean",
                     "remove leftovers of killed fabrictwin runs (only ours)", False),
    "controller": Command("fabrictwin.cli.controller",
                          "the OpenFlow 1.3 controller (routing, ECMP, ECN), on 127.0.0.1"),
    "run": Command("fabrictwin.cli.run",
                   "run a collective over the emulated fabric (root); nccl-tests style table"),
    "project": Command("fabrictwin.cli.project",
                       "project collective times onto full-size hardware (the model)"),
    "twin": Command("fabrictwin.cli.twin",
                    "training step or serving figures of a workload on catalogue hardware"),
    "experiment": Command("fabrictwin.cli.experiment",
                          "lossless-fabric and controller experiments (root)", False),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), if any."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--profiles":
            skip = True  # its value is a directory, not a command
        elif word in COMMANDS:
            return word
    return None


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser when ``argv`` is None; else only the named command's options
    are loaded (the others are listed with their help)."""
    p = argparse.ArgumentParser(prog="fabrictwin", description="Network fabric emulator and "
                                "protocol testbed for AI-factory networks.")
    p.add_argument("--version", action="version", version=f"fabrictwin {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    p.add_argument("--profiles", action="append", metavar="DIR", help=PROFILES_HELP)
    # --profiles works before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profiles", action="append", metavar="DIR", default=argparse.SUPPRESS,
                        help=PROFILES_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    chosen = None if argv is None else _chosen(argv)
    for name, cmd in COMMANDS.items():
        sp = sub.add_parser(name, help=cmd.help, description=cmd.help,
                            parents=[common] if cmd.profiles else [])
        if argv is None or name == chosen:
            importlib.import_module(cmd.module).add_arguments(sp, common)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser(argv).parse_args(argv)
    except FabricTwinError as exc:  # a command's module refused its own set-up
        print(f"fabrictwin: error: {exc}", file=sys.stderr)
        return 2
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
