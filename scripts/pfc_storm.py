#!/usr/bin/env python3
"""A receiver storming PAUSE, with and without the PFC watchdog (root):
``sudo scripts/pfc_storm.py ARGS`` runs ``fabrictwin experiment pfc-storm ARGS``
under the project's venv; see ``fabrictwin experiment pfc-storm --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "pfc-storm", *sys.argv[1:]]))
