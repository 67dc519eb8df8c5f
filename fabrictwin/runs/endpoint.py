"""Endpoint costs of an emulated collective: the model's per-step charges on each transfer.

Every transfer of a schedule crosses one tier: scale-up between GPUs of one hyper-node,
scale-out between hyper-nodes of one data centre, scale-across between data centres.
Its send waits, once its inputs have arrived, the model's step latency on that tier
(in dilated time) less what the emulated links on its path already delay; sends that
wait for nothing also pay the call's launch cost. It then moves payload no faster than
the model's endpoint rate for that tier and protocol (dilated), which a GPU's sends of
one step on one tier share. See
:mod:`fabrictwin.model.emulated` for where the figures come from.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import networkx as nx

from fabrictwin.model.emulated import EndpointCharges


def tier_of(keys: Sequence[tuple[int, int]], src: int, dst: int) -> int:
    """The tier a transfer between ranks crosses, from each rank's (dc, hyper-node).

    >>> keys = [(0, 0), (0, 0), (0, 1), (1, 2)]
    >>> tier_of(keys, 0, 1), tier_of(keys, 0, 2), tier_of(keys, 0, 3)
    (0, 1, 2)
    """
    (dc_a, node_a), (dc_b, node_b) = keys[src], keys[dst]
    if dc_a != dc_b:
        return 2
    return 0 if node_a == node_b else 1


def emulated_delay_ns(plan: Any, g: nx.Graph) -> Callable[[str, str], float]:
    """A cached function (src host, dst host) -> the dilated delay the emulated links on
    the shortest path add (0 for links whose delay the plan does not emulate)."""
    delay = {frozenset((link.u, link.v)): link.delay_ns for link in plan.links}

    @functools.cache
    def between(src: str, dst: str) -> float:
        path = nx.shortest_path(g, src, dst)
        return sum(delay.get(frozenset(hop), 0.0) for hop in zip(path, path[1:], strict=False))

    return between


def transfer_charges(schedule: Any, hosts: Sequence[str], keys: Sequence[tuple[int, int]],
                     charges: EndpointCharges, dilation: float,
                     delay_between: Any = None) -> dict[int, dict[str, float]]:
    """``{transfer id: {"delay_ns", "rate_bps"}}`` (dilated) for every transfer.

    ``keys`` gives each rank's (dc, hyper-node); ``delay_between(src_host, dst_host)``
    the emulated path delay already paid on the wire (default none).
    """
    out = {}
    top = len(charges.step_s) - 1
    for step in schedule.steps:
        tiers = [min(tier_of(keys, t.src, t.dst), top) for t in step]
        # what one GPU pushes through a tier is shared by its sends of one step on that
        # tier (e.g. its part on each of several rings, or every peer of an all-to-all)
        sharing = Counter((t.src, tier) for t, tier in zip(step, tiers, strict=True)
                          if t.size_bytes)
        for t, tier in zip(step, tiers, strict=True):
            step_ns = charges.step_s[tier] * 1e9 * dilation
            if delay_between is not None:  # the wire part the emulated links already delay
                step_ns = max(step_ns - delay_between(hosts[t.src], hosts[t.dst]), 0.0)
            if not t.deps:
                step_ns += charges.launch_s * 1e9 * dilation
            share = max(sharing[t.src, tier], 1)
            out[t.id] = {"delay_ns": step_ns,
                         "rate_bps": charges.rate_bps[tier] / share / dilation}
    return out
