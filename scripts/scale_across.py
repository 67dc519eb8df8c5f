#!/usr/bin/env python3
"""An all-reduce across two DCs against DCI distance, per congestion-control variant (root):
``sudo scripts/scale_across.py ARGS`` runs ``fabrictwin experiment scale-across ARGS``
under the project's venv; see ``fabrictwin experiment scale-across --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "scale-across", *sys.argv[1:]]))
