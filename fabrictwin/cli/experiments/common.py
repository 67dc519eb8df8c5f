"""What the experiments share on their command line: help from the module docstring,
``--json`` and ``--out``, progress lines, and the checks before minutes of emulation
(root, a writable ``--out``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.commands import require_root
from fabrictwin.runs.incast_plots import plot_runs, table

#: ``--out``'s default, relative to the working directory (as ``fabrictwin run``'s)
OUT_DEFAULT = Path("results")


def describe(p: argparse.ArgumentParser, doc: str) -> None:
    """``p``'s help from an experiment's docstring: its first line, then the rest as is."""
    lines = doc.strip().splitlines()
    p.description = lines[0]
    p.epilog = "\n".join(lines[2:])
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def add_json_out(p: argparse.ArgumentParser) -> None:
    """``--json`` and ``--out`` of the lossless-fabric experiments."""
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", type=Path, default=OUT_DEFAULT)


def say(label: str, message: str) -> None:
    """A run's progress, labelled, on stderr."""
    print(f"[{label}] {message}", file=sys.stderr, flush=True)


def ready(out: Path) -> None:
    """Refuse, in one line, unless root and ``out`` is a directory we can write to.

    Called once the arguments are checked, before anything is brought up."""
    require_root()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FabricTwinError(f"--out {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise FabricTwinError(f"--out {out}: not writable")


def report_lossless(args: argparse.Namespace, name: str, results: Sequence[dict[str, Any]],
                    title: str, brief: Callable[[Sequence[dict[str, Any]]], Any],
                    extra: Sequence[str] = ()) -> int:
    """A lossless experiment's outputs: ``NAME.json`` and ``NAME.png`` under ``--out``,
    then the table (or, with ``--json``, the brief figures) on stdout."""
    doc = args.out / f"{name}.json"
    doc.write_text(json.dumps(results, indent=1) + "\n")
    png = plot_runs(results, args.out / f"{name}.png", title)
    if args.json:
        print(json.dumps(brief(results), indent=1))
    else:
        print(table(results, *([extra] if extra else [])))
        print(f"wrote {png} and {doc}")
    return 0
