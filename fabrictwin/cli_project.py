"""``fabrictwin project``: the projection model's command (placeholder until it lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``project`` subcommand to ``sub`` (nothing yet)."""
