"""``fabrictwin experiment NAME``: the lossless-fabric and controller experiments (root).

Experiments live one per module in :mod:`fabrictwin.cli.experiments` behind a lazy
registry (:data:`EXPERIMENTS`), as the commands do in :mod:`fabrictwin.cli.main`: an
experiment's module is imported only when its parser is used (to parse its arguments or
print its help), so ``fabrictwin experiment incast ...`` loads only the incast's.

An experiment's module defines ``add_arguments(parser, common)``, which adds its options
and sets ``func``. Bad input to an experiment ends with one line and exit 2, before
anything is brought up: ``fabrictwin: error: <what and why>`` (an option argparse
refuses: ``fabrictwin: error: experiment NAME: <what>``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from fabrictwin.errors import FabricTwinError


@dataclass(frozen=True)
class Experiment:
    """An experiment: the module holding it, and its one-line help."""

    module: str
    help: str


EXPERIMENTS: dict[str, Experiment] = {
    "incast": Experiment("fabrictwin.cli.experiments.incast",
                         "N:1 incast of the lossless class, PFC and DCQCN on or off"),
    "pfc-storm": Experiment("fabrictwin.cli.experiments.pfc_storm",
                            "a receiver storming PAUSE, with and without the PFC watchdog"),
    "hol-victim": Experiment("fabrictwin.cli.experiments.hol_victim",
                             "head-of-line blocking of a victim flow beside an incast"),
    "ecn-thresholds": Experiment("fabrictwin.cli.experiments.ecn_thresholds",
                                 "ECN Kmin/Kmax swept over three settings under a 4:1 incast"),
    "ecmp-vs-adaptive": Experiment("fabrictwin.cli.experiments.ecmp_vs_adaptive",
                                   "ECMP vs adaptive routing under skewed traffic"),
    "interference": Experiment("fabrictwin.cli.experiments.interference",
                               "a training all-reduce and PD KV transfers on one fabric, "
                               "alone and together"),
    "faults": Experiment("fabrictwin.cli.experiments.faults",
                         "what a few standard faults (link, flap, switch, loss, corruption, "
                         "controller restart) cost a collective"),
    "scale-across": Experiment("fabrictwin.cli.experiments.scale_across",
                               "an all-reduce across two DCs against DCI distance, per "
                               "congestion-control variant"),
}


class ExperimentParser(argparse.ArgumentParser):
    """An experiment's parser, filled in by ``module``'s ``add_arguments`` the first time
    it is used (to parse, or to format its usage or help).

    Its errors (a bad value, an unknown option) are one line: they raise
    :class:`~fabrictwin.errors.FabricTwinError`, which ``fabrictwin`` prints and exits 2 on.
    """

    def __init__(self, *args: Any, module: str | None = None,
                 common: argparse.ArgumentParser | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.module = module  # None once loaded
        self.common = common

    def load(self) -> None:
        if self.module is not None:
            module, self.module = self.module, None
            importlib.import_module(module).add_arguments(self, self.common)

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        self.load()
        ns, extras = super().parse_known_args(args, namespace)
        if extras:  # refused here, in one line: the top-level parser would add its usage
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras

    def format_usage(self) -> str:
        self.load()
        return super().format_usage()

    def format_help(self) -> str:
        self.load()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        raise FabricTwinError(f"{self.prog.removeprefix('fabrictwin ')}: {message}")


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    p.epilog = "`fabrictwin experiment NAME --help` describes an experiment and its options."
    sub = p.add_subparsers(dest="experiment", metavar="NAME", required=True,
                           parser_class=ExperimentParser)
    for name, exp in EXPERIMENTS.items():
        sub.add_parser(name, help=exp.help, description=exp.help, module=exp.module,
                       common=common)
