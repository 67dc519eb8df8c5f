#!/usr/bin/env python3
"""A training all-reduce and PD KV transfers on one fabric, alone and together (root):
``sudo scripts/interference.py ARGS`` runs ``fabrictwin experiment interference ARGS``
under the project's venv; see ``fabrictwin experiment interference --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "interference", *sys.argv[1:]]))
