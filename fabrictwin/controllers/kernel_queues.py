"""The controller's queue telemetry from the kernel: egress backlog of every switch port.

OpenFlow on this VM reports no queue depth, but each emulated port's egress
queue is a Linux qdisc (HTB at the dilated rate), whose statistics one rtnetlink dump
returns for every interface of the root namespace (what ``tc -s -j qdisc show``
prints: :mod:`~fabrictwin.linux.rtnetlink`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import networkx as nx

from fabrictwin.controllers.telemetry import QueueSample
from fabrictwin.linux.rtnetlink import TC_H_ROOT, QdiscReader
from fabrictwin.topologies.graph import intf_name


@dataclass(frozen=True)
class QdiscBacklog:
    dev: str
    backlog_bytes: int
    backlog_packets: int
    sent_bytes: int
    drops: int
    time_ns: int  # time.monotonic_ns() when read


def read_backlogs(devs: set[str] | None = None,
                  reader: QdiscReader | None = None) -> dict[str, QdiscBacklog]:
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
        samples[dev] = QdiscBacklog(dev, q.backlog, q.qlen, q.bytes, q.drops, now)
    return samples


class QdiscQueues:
    """The controller's queue telemetry source: switch-port backlogs (time in s)."""

    def __init__(self, ports: set[str], prefix: str = "") -> None:
        self.ports, self.prefix = ports, prefix
        self.reader = QdiscReader()

    def sample(self) -> QueueSample:
        now = time.time()
        backlog = {}
        for dev, q in read_backlogs(self.ports, self.reader).items():
            switch, _, port = dev.removeprefix(self.prefix).rpartition("-eth")
            backlog[(switch, int(port))] = q.backlog_bytes
        return QueueSample(now, backlog)


def controller_source(graph: nx.Graph) -> QdiscQueues:
    """``--queue-source fabrictwin.controllers.kernel_queues:controller_source``."""
    # every switch port is an interface in the root namespace, named with the run's prefix
    prefix = graph.graph.get("names_prefix", "")
    ports = {prefix + intf_name(s, d["ports"][s]) for u, v, d in graph.edges(data=True)
             for s in (u, v) if graph.nodes[s]["kind"] == "switch"}
    return QdiscQueues(ports, prefix)
