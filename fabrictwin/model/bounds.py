"""Physical bounds a measured figure must respect (pure).

nccl-tests normalises busbw so that it is the rate at which each rank sends (or
receives) bytes in a bandwidth-optimal algorithm (``doc/PERFORMANCE.md``): for
all-reduce every rank sends at least 2(n-1)/n of the buffer (Patarasuk and Yuan, 2009),
and busbw = algbw x 2(n-1)/n. Without reduction inside the switches (NVLS, SHARP),
which the emulator does not model, no collective's busbw can beat the slowest rank's
links taken together.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.topologies.graph import hosts


def injection_Bps(g: nx.Graph, host: str) -> float:
    """Bytes per second ``host`` can send (or receive) over all its links at once.

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("hypernode,profile=dgx-h100")
    >>> injection_Bps(g, "g0") / 1e9  # NVLink 4: 18 links x 25 GB/s per direction
    450.0
    """
    return sum(d["rate_bps"] for _, _, d in g.edges(host, data=True)) / 8


def busbw_bound_GBps(g: nx.Graph, ranks: Iterable[str] | None = None) -> float:
    """The highest busbw any collective among ``ranks`` (default: every host) can reach
    on ``g``, in GB/s: the slowest rank's injection rate."""
    members = list(hosts(g) if ranks is None else ranks)
    if not members:
        raise FabricTwinError("no ranks to bound")
    return min(injection_Bps(g, h) for h in members) / 1e9
