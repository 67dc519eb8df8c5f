#!/usr/bin/env python3
"""ECMP vs adaptive routing under skewed traffic (root):
``sudo scripts/ecmp_vs_adaptive.py ARGS`` runs ``fabrictwin experiment ecmp-vs-adaptive ARGS``
under the project's venv; see ``fabrictwin experiment ecmp-vs-adaptive --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "ecmp-vs-adaptive", *sys.argv[1:]]))
