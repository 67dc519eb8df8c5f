"""Queue telemetry from the kernel: egress backlog of every switch port's qdisc.

OpenFlow on this VM reports no queue depth, but each emulated port's egress
queue is a Linux qdisc (HTB at the dilated rate), whose statistics one rtnetlink dump
returns for every interface of the root namespace (what ``tc -s -j qdisc show``
prints: :mod:`~fabrictwin.fabric.emulation.netlink_qdisc`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fabrictwin.fabric.emulation.netlink_qdisc import TC_H_ROOT, QdiscReader


@dataclass(frozen=True)
class QueueSample:
    dev: str
    backlog_bytes: int
    backlog_packets: int
    sent_bytes: int
    drops: int
    time_ns: int  # time.monotonic_ns() when read


def read_backlogs(devs: set[str] | None = None,
                  reader: QdiscReader | None = None) -> dict[str, QueueSample]:
    """Root qdisc statistics of ``devs`` (all root-namespace interfaces when None)."""
    if reader is None:
        with QdiscReader() as own:
            return read_backlogs(devs, own)
    now = time.monotonic_ns()
    samples = {}
    for q in reader.dump(lambda _h, parent: parent == TC_H_ROOT):
        dev = reader.name(q.ifindex)
        if devs is not None and dev not in devs:
            continue
        samples[dev] = QueueSample(dev, q.backlog, q.qlen, q.bytes, q.drops, now)
    return samples


class QdiscQueues:
    """The controller's queue telemetry source: switch-port backlogs (time in s)."""

    def __init__(self, ports: set[str]) -> None:
        self.ports = ports
        self.reader = QdiscReader()

    def sample(self) -> object:
        from fabrictwin.controllers.telemetry import QueueSample

        now = time.time()
        backlog = {}
        for dev, q in read_backlogs(self.ports, self.reader).items():
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
