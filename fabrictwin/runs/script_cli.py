"""What the lossless-fabric scripts (``scripts/incast.py``, ``pfc_storm.py``,
``hol_victim.py``) share on their command line: the parser, progress lines, and the
checks before minutes of emulation (root, a writable ``--out``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def script_parser(doc: str, out_default: Path) -> argparse.ArgumentParser:
    """A parser described by the script's docstring, with ``--json`` and ``--out``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(doc.splitlines()[2:]))
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", type=Path, default=out_default)
    return p


def say(label: str, message: str) -> None:
    """A run's progress, labelled, on stderr."""
    print(f"[{label}] {message}", file=sys.stderr, flush=True)


def ready(name: str, out: Path) -> None:
    """Exit with one line unless root and ``out`` can be created."""
    if os.geteuid() != 0:
        sys.exit(f"{name}: needs root (run with sudo)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sys.exit(f"{name}: error: --out {out}: {e.strerror}")
