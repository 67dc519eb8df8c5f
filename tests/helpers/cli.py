"""Running the ``fabrictwin`` command as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m fabrictwin ARGS`` as a user would; capture text output."""
    return subprocess.run([sys.executable, "-m", "fabrictwin", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)
