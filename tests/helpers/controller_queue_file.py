"""A queue telemetry source for tests: backlog per interface from a JSON file.

The file (named by ``$FABRICTWIN_TEST_QUEUES``) maps ``<switch>-eth<port>`` to bytes;
a missing or half-written file reads as empty queues.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from fabrictwin.controllers.telemetry import QueueSample


class FileQueues:
    def __init__(self, path: Path) -> None:
        self.path = path

    def sample(self) -> QueueSample:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        backlog = {}
        for intf, size in data.items():
            switch, _, port = intf.rpartition("-eth")
            backlog[(switch, int(port))] = int(size)
        return QueueSample(time.time(), backlog)


def factory(_graph: Any) -> FileQueues:
    return FileQueues(Path(os.environ["FABRICTWIN_TEST_QUEUES"]))
