#!/usr/bin/env python3
"""ECN Kmin/Kmax swept over three settings under a 4:1 incast (root):
``sudo scripts/ecn_thresholds.py ARGS`` runs ``fabrictwin experiment ecn-thresholds ARGS``
under the project's venv; see ``fabrictwin experiment ecn-thresholds --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "ecn-thresholds", *sys.argv[1:]]))
