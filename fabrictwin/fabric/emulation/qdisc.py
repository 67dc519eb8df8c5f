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


class QdiscQueues:
    """The controller's queue telemetry source: switch-port backlogs from tc (time in s)."""

    def __init__(self, ports: set[str]) -> None:
        self.ports = ports

    def sample(self) -> object:
        from fabrictwin.controllers.telemetry import QueueSample

        now = time.time()
        backlog = {}
        for dev, q in read_backlogs(self.ports).items():
            switch, _, port = dev.rpartition("-eth")
            backlog[(switch, int(port))] = q.backlog_bytes
        return QueueSample(now, backlog)


def controller_source(graph: object) -> QdiscQueues:
    """``--queue-source fabrictwin.fabric.emulation.qdisc:controller_source``."""
    from fabrictwin.topologies.graph import intf_name

    g = graph  # a topology graph: every switch port is an interface in the root namespace
    ports = {intf_name(s, d["ports"][s]) for u, v, d in g.edges(data=True)  # type: ignore
             for s in (u, v) if g.nodes[s]["kind"] == "switch"}  # type: ignore[index]
    return QdiscQueues(ports)
