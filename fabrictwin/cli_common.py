"""Helpers shared by the CLI's command modules."""

from __future__ import annotations

import argparse
import os

from fabrictwin.fabric.profiles import ProfileLibrary


def library_from_args(args: argparse.Namespace) -> ProfileLibrary:
    """The profile library of ``--profiles`` directories and ``$FABRICTWIN_PROFILES``."""
    dirs = list(getattr(args, "profiles", None) or [])
    env = os.environ.get("FABRICTWIN_PROFILES", "")
    dirs += [d for d in env.split(os.pathsep) if d]
    return ProfileLibrary(dirs)
