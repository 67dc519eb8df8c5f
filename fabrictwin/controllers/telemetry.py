"""Telemetry the core consumes: port counters (OpenFlow) and queue backlog (pluggable).

OpenFlow reports no queue depth on this VM's userspace Open vSwitch, so backlog
comes from a :class:`QueueTelemetry` source (the emulator's qdisc reader). The
controller process loads one by ``module:callable`` reference; the callable takes
the topology graph and returns the source.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from fabrictwin.errors import FabricTwinError


@dataclass(frozen=True)
class QueueSample:
    """Bytes queued at each switch egress port at ``time_s`` (ports absent: empty).

    Keys are (switch name, OpenFlow port), i.e. the interface ``<switch>-eth<port>``.
    """

    time_s: float
    backlog_bytes: Mapping[tuple[str, int], int] = field(default_factory=dict)


class QueueTelemetry(Protocol):
    """Anything that can tell the queue backlog of every switch port, now."""

    def sample(self) -> QueueSample: ...


@dataclass(frozen=True)
class PortCounter:
    """A port's transmit byte counter at a time."""

    tx_bytes: int
    time_s: float


def utilization(prev: PortCounter, cur: PortCounter, rate_bps: float) -> float | None:
    """Share of ``rate_bps`` used between two samples; ``None`` if they cannot tell."""
    dt = cur.time_s - prev.time_s
    if dt <= 0 or cur.tx_bytes < prev.tx_bytes or rate_bps <= 0:
        return None  # no time passed, or the counter was reset (port re-added)
    return max(0.0, (cur.tx_bytes - prev.tx_bytes) * 8 / dt / rate_bps)


def load_queue_source(ref: str, graph: Any) -> QueueTelemetry:
    """Import ``module:callable`` and call it with the graph; one-line error if it fails."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise FabricTwinError(f"--queue-source: expected module:callable, got {ref!r}")
    try:
        factory: Callable[[Any], QueueTelemetry] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise FabricTwinError(f"--queue-source {ref}: {exc}") from None
    source = factory(graph)
    if not callable(getattr(source, "sample", None)):
        raise FabricTwinError(f"--queue-source {ref}: the object it made has no sample()")
    return source
