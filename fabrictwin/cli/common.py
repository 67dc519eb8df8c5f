"""Helpers shared by the CLI's command modules."""

from __future__ import annotations

import argparse

from fabrictwin.hardware.profiles import ProfileLibrary


def library_from_args(args: argparse.Namespace) -> ProfileLibrary:
    """The profile library of ``--profiles`` directories and ``$FABRICTWIN_PROFILES``."""
    return ProfileLibrary.from_user(getattr(args, "profiles", None))
