"""Shared fixtures: the shipped profile library and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fabrictwin.fabric.profiles import ProfileLibrary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lib() -> ProfileLibrary:
    return ProfileLibrary()


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m fabrictwin ARGS`` as a user would; capture text output."""
    return subprocess.run([sys.executable, "-m", "fabrictwin", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)
