"""Multi-plane endpoints: one transfer striped over every plane a GPU has to its peer.

A GPU of an orthogonal-backplane hyper-node has a link to every switch chip: each chip
is a *plane*, and the hardware spreads a transfer over all of them. Here a transfer
that can take several planes becomes one sub-transfer (its own queue pair) per plane,
sized in proportion to the plane's rate, so all planes finish together. The receiver
accepts each on the interface its plane arrives at; a send that waited for a transfer
waits for all of that transfer's parts.

Sub-transfer ids are ``id * stride + plane`` (``stride`` is the most planes any pair
has), so they stay unique and every part of transfer ``id`` is known from ``id``.

A part is never smaller than :data:`MIN_PART_BYTES`: a small transfer takes fewer
planes, starting at a plane that rotates with its id, so successive small transfers
still spread over all planes. (Every part is a queue pair in a Python agent: a 64-GPU
hyper-node's 1 MB ring all-reduce would otherwise open 4,032 per agent for 1 KB each.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fabrictwin.errors import FabricTwinError


@dataclass(frozen=True)
class Plane:
    """One way from a sender to a receiver: the interface each end uses, and its rate."""

    src_intf: str
    dst_intf: str  # where the receiver sends its ACKs from ("": its route to the sender)
    rate_bps: float


#: The planes from rank ``src`` to rank ``dst`` (empty or one: no striping).
PlanesOf = Callable[[int, int], Sequence[Plane]]
#: The smallest part worth its own queue pair: two 4 KB frames.
MIN_PART_BYTES = 8192


def split_by_rate(size_bytes: int, rates: Sequence[float]) -> list[int]:
    """``size_bytes`` in parts proportional to ``rates`` (whole bytes, summing exactly).

    >>> split_by_rate(1000, [5, 4, 4, 5])
    [278, 222, 222, 278]
    >>> split_by_rate(3, [1, 1, 1, 1])
    [1, 1, 1, 0]
    """
    total = float(sum(rates))
    if not rates or not total > 0:
        raise FabricTwinError("planes: rates must be positive")
    parts = [int(size_bytes * r / total) for r in rates]
    # hand out the remainder by largest fractional part, first plane first on ties
    order = sorted(range(len(rates)), key=lambda i: -(size_bytes * rates[i] / total - parts[i]))
    for i in order[:size_bytes - sum(parts)]:
        parts[i] += 1
    return parts


def stripe(views: Mapping[int, dict[str, list[dict[str, Any]]]], planes_of: PlanesOf,
           ) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Every rank's view (``sends``/``recvs``, as :func:`~fabrictwin.traffic.schedule.
    agent_view` gives) with each multi-plane transfer split into per-plane parts, each
    naming its ``interface``. Views whose pairs have at most one plane come back as they
    were (ids unchanged)."""
    ways = {s["id"]: _ways(r, s, planes_of) for r, v in views.items() for s in v["sends"]}
    stride = max((len(planes) for _, planes in ways.values()), default=1)
    if stride <= 1:
        return {r: {"sends": list(v["sends"]), "recvs": list(v["recvs"])}
                for r, v in views.items()}

    @functools.cache  # asked again for every send that waits on the transfer
    def parts(tid: int) -> list[tuple[int, int, Plane | None]]:
        """(part id, bytes, plane) of transfer ``tid``; parts of 0 bytes are left out."""
        size, planes = ways[tid]
        if len(planes) <= 1:
            return [(tid * stride, size, planes[0] if planes else None)]
        used = min(len(planes), max(1, size // MIN_PART_BYTES))
        chosen = [(tid + j) % len(planes) for j in range(used)]
        sizes = split_by_rate(size, [planes[i].rate_bps for i in chosen])
        return [(tid * stride + i, b, planes[i])
                for i, b in zip(chosen, sizes, strict=True) if b > 0]

    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for rank, view in views.items():
        sends, recvs = [], []
        for s in view["sends"]:
            deps = [pid for d in s.get("deps", []) for pid, _, _ in parts(d)]
            for pid, size, plane in parts(s["id"]):
                part = {"id": pid, "dst": s["dst"], "size_bytes": size, "deps": deps}
                if plane is not None:
                    part["interface"] = plane.src_intf
                if s.get("delay_ns"):
                    part["delay_ns"] = s["delay_ns"]
                if s.get("rate_bps"):  # the parts share the transfer's endpoint rate
                    part["rate_bps"] = s["rate_bps"] * size / max(s["size_bytes"], 1)
                sends.append(part)
        for r in view["recvs"]:
            for pid, size, plane in parts(r["id"]):
                part = {"id": pid, "src": r["src"], "size_bytes": size}
                if plane is not None and plane.dst_intf:
                    part["interface"] = plane.dst_intf
                recvs.append(part)
        out[rank] = {"sends": sends, "recvs": recvs}
    return out


def _ways(rank: int, send: dict[str, Any], planes_of: PlanesOf) -> tuple[int, list[Plane]]:
    planes = list(planes_of(rank, send["dst"]))
    return int(send["size_bytes"]), planes if len(planes) > 1 else []
