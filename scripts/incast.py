#!/usr/bin/env python3
"""N:1 incast of the lossless class, PFC and DCQCN on or off (root):
``sudo scripts/incast.py ARGS`` runs ``fabrictwin experiment incast ARGS``
under the project's venv; see ``fabrictwin experiment incast --help``."""

import sys

import _venv  # noqa: F401  (first: re-runs this script under the project's venv)

from fabrictwin.cli.main import main

raise SystemExit(main(["experiment", "incast", *sys.argv[1:]]))
