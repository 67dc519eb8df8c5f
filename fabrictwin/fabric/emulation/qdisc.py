"""Queue telemetry from the kernel: egress backlog of every switch port's qdisc.

OpenFlow on this VM reports no queue depth, but each emulated port's egress
queue is a Linux qdisc (HTB at the dilated rate), whose statistics one
``tc -s -j qdisc show`` returns for every interface of the root namespace.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from fabrictwin.fabric.emulation.system import run


@dataclass(frozen=True)
class QueueSample:
    dev: str
    backlog_bytes: int
    backlog_packets: int
    sent_bytes: int
    drops: int
    time_ns: int  # time.monotonic_ns() when read


def read_backlogs(devs: set[str] | None = None) -> dict[str, QueueSample]:
    """Root qdisc statistics of ``devs`` (all root-namespace interfaces when None)."""
    now = time.monotonic_ns()
    out = run(["tc", "-s", "-j", "qdisc", "show"]).stdout
    samples = {}
    for q in json.loads(out or "[]"):
        dev = q.get("dev")
        if not q.get("root") or (devs is not None and dev not in devs):
            continue
        samples[dev] = QueueSample(dev, int(q.get("backlog", 0)), int(q.get("qlen", 0)),
                                   int(q.get("bytes", 0)), int(q.get("drops", 0)), now)
    return samples
