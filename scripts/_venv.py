"""Re-run the importing script under the project's venv, when not already in it.

``sudo scripts/X.py`` runs the system python3, which lacks the project's dependencies:
importing this module (first, before anything of the project) replaces the process
with ``<repo>/.venv/bin/python`` running the same script with the same arguments.
"""

import os
import sys
from pathlib import Path

VENV_PY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"

if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parents[1].resolve():
    os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])
