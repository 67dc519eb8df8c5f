#!/usr/bin/env python3
"""Head-of-line blocking of a victim flow beside an incast (root):
``sudo scripts/hol_victim.py ARGS`` runs ``fabrictwin experiment hol-victim ARGS``
under the project's venv; see ``fabrictwin experiment hol-victim --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "hol-victim", *sys.argv[1:]]))
