"""Which algorithm and protocol NCCL would run, decided the way NCCL decides.

NCCL estimates ``latency + size / bandwidth`` for every enabled algorithm and
protocol and takes the fastest. Its latencies are its own measured constants, not
the hardware's, and they decide the crossovers (LL for small messages, NVLink
SHARP only from a few MiB). So the choice here uses NCCL's latency table
(``NVIDIA/nccl`` ``src/graph/tuning.cc``: a base latency per algorithm and
protocol plus a latency per step over NVLink and over the network) with this
model's bandwidths; the time then reported is this model's own
(:mod:`fabrictwin.fabric.model.collectives`), derived from the hardware.
"""

from __future__ import annotations

import math

import numpy as np

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.model.collectives import Cost, check_collective, cost, protocols_for
from fabrictwin.fabric.model.system import System

# NCCL's cost table (src/graph/tuning.cc, NCCL 2.19+), microseconds.
_BASE_US = {("ring", "LL"): 6.6, ("ring", "LL128"): 14.0, ("ring", "Simple"): 8.4,
            ("tree", "LL"): 6.8, ("tree", "LL128"): 14.0, ("tree", "Simple"): 8.4,
            ("nvls", "Simple"): 0.0}
_NVLINK_STEP_US = {("ring", "LL"): 0.6, ("ring", "LL128"): 1.9, ("ring", "Simple"): 3.4,
                   ("tree", "LL"): 0.6, ("tree", "LL128"): 1.25, ("tree", "Simple"): 4.0,
                   ("nvls", "Simple"): 25.0}
_NET_STEP_US = {("ring", "LL"): 2.7, ("ring", "LL128"): 4.0, ("ring", "Simple"): 14.0,
                ("tree", "LL"): 5.0, ("tree", "LL128"): 8.5, ("tree", "Simple"): 14.0,
                ("nvls", "Simple"): 20.9}


def candidates(system: System, collective: str) -> list[str]:
    """Algorithms NCCL enables for this collective on this system."""
    check_collective(collective)
    if collective in ("alltoall", "sendrecv"):
        return ["direct"]
    up = system.tiers[0]
    nvls = up.size > 1 and up.reduction_efficiency > 0
    if collective == "all_reduce":
        return ["ring", "tree"] + (["nvls"] if nvls else [])
    if collective in ("all_gather", "reduce_scatter"):
        return ["ring"] + (["nvls"] if nvls and system.active() == [0] else [])
    return ["ring"]


def nccl_latency_s(system: System, collective: str, algorithm: str,
                   protocol: str) -> float | None:
    """NCCL's own estimate of the latency, with this system's DC distances added.

    None for algorithms NCCL does not have (halving-doubling, per-tier compositions).
    """
    key = (algorithm, protocol)
    if key not in _BASE_US:
        return None
    tiers = system.tiers
    ppn = tiers[0].size
    nodes = system.members(1) if len(tiers) > 1 else 1
    dcs = tiers[2].size if len(tiers) > 2 else 1
    # NCCL does not know about fibre: add what a DC crossing costs beyond a scale-out hop
    dc_extra_us = (tiers[2].hop_s - tiers[1].hop_s) * 1e6 if dcs > 1 else 0.0
    intra, inter = _NVLINK_STEP_US[key], _NET_STEP_US[key]
    lat = _BASE_US[key]
    if algorithm == "ring":
        k = 2 if collective == "all_reduce" else 1
        steps, inter_steps = k * (system.ranks - 1), k * (nodes - 1)
        lat += (steps - inter_steps) * intra + inter_steps * inter + k * (dcs - 1) * dc_extra_us
    elif algorithm == "tree":
        depth = math.ceil(math.log2(nodes)) if nodes > 1 else 0
        lat += 2 * ((ppn - 1) * intra + depth * inter)
        lat += 2 * (math.ceil(math.log2(dcs)) if dcs > 1 else 0) * dc_extra_us
    else:  # nvls in the node, NVLSTree across nodes
        lat = _NVLINK_STEP_US[key]
        if nodes > 1:
            lat += 2 * math.ceil(math.log2(nodes)) * inter
            lat += 2 * (math.ceil(math.log2(dcs)) if dcs > 1 else 0) * dc_extra_us
    return lat * 1e-6


def options(system: System, collective: str, algorithm: str = "auto",
            protocol: str = "auto") -> list[Cost]:
    """The costs NCCL would choose among; one entry when both are given."""
    algos = candidates(system, collective) if algorithm == "auto" else [algorithm]
    out: list[Cost] = []
    errors: list[str] = []
    for algo in algos:
        protos = protocols_for(system, algo) if protocol == "auto" else (protocol,)
        for proto in protos:
            try:
                out.append(cost(system, collective, algo, proto))
            except FabricTwinError as exc:
                errors.append(str(exc))
    if not out:
        raise FabricTwinError(errors[0] if errors else f"no algorithm for {collective}")
    return out


def choose(system: System, collective: str, size_bytes: np.ndarray,
           choices: list[Cost]) -> np.ndarray:
    """Index into ``choices`` of NCCL's pick for every size (vectorised over sizes)."""
    sizes = np.asarray(size_bytes, dtype=float)
    if len(choices) == 1:
        return np.zeros(sizes.shape, dtype=int)
    lat = np.array([_or(nccl_latency_s(system, collective, c.algorithm, c.protocol),
                        c.latency_s) for c in choices])
    s_per_byte = np.array([_nccl_s_per_byte(system, c, choices) for c in choices])
    estimate = lat[:, None] + s_per_byte[:, None] * sizes.reshape(1, -1)
    return np.argmin(estimate, axis=0).reshape(sizes.shape)


def _nccl_s_per_byte(system: System, c: Cost, choices: list[Cost]) -> float:
    """This model's bandwidth, except where NCCL believes less.

    NCCL rates its tree at 0.92 x half the bus bandwidth a ring gets (tuning.cc), so it
    keeps the ring for large all_reduce on two nodes even where a tree would be faster.
    """
    if c.algorithm != "tree":
        return c.s_per_byte
    ring = [r for r in choices if r.algorithm == "ring" and r.protocol == c.protocol]
    if not ring:
        return c.s_per_byte
    n = system.ranks
    return max(c.s_per_byte, ring[0].s_per_byte * n / (2 * (n - 1)) / (0.92 * 0.5))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
