#!/usr/bin/env python3
"""What a few standard faults cost a collective, against it fault-free (root):
``sudo scripts/faults.py ARGS`` runs ``fabrictwin experiment faults ARGS``
under the project's venv; see ``fabrictwin experiment faults --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "faults", *sys.argv[1:]]))
