"""Which algorithm and protocol NCCL would run for a collective of a given size.

NCCL's tuner (``NVIDIA/nccl`` ``src/graph/tuning.cc``) estimates ``latency + size /
bandwidth`` for every algorithm and protocol it enables on the system and runs the
fastest. This module does the same with this model's estimates: the enabled set
follows NCCL's rules, the ranking is by the modelled time. Because the modelled
time is monotonic in size for every choice, so is the time of the fastest.

NCCL's enabled set: all_reduce runs ring or tree, and NVLink SHARP (NVLS) where the
scale-up switches reduce (NVSwitch gen 3 and later; across nodes NCCL's NVLSTree);
all_gather and reduce_scatter run ring, or NVLS inside one node; broadcast and
reduce run ring; alltoall and sendrecv are point-to-point (``direct``). LL128 where
every tier keeps 128-byte stores whole: NVLink, and GPUDirect RDMA NICs (NCCL enables
LL128 over IB/RoCE on Ampere and later).

Where the choice differs from NCCL's: NCCL's own latency constants make it keep LL
on NVLink for messages up to about 1 MiB, where LL128 (same latency here, more
bandwidth) is faster by this model. Across nodes the model holds trees, LL128 rings
and NVLSTree to NCCL's per-channel caps (:mod:`.ceilings`), so on two A100 nodes it
keeps the ring, as NCCL does. Large-message choices agree: NVLS on H100, H200, B200
and NVL72 nodes, ring on A100 nodes, NVLS or ring across nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.collectives import Cost, check_collective, cost, protocols_for
from fabrictwin.model.system import System


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


def options(system: System, collective: str, algorithm: str = "auto",
            protocol: str = "auto") -> list[Cost]:
    """The costs to choose among; one entry when both algorithm and protocol are given."""
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


def choose(size_bytes: np.ndarray, choices: list[Cost]) -> np.ndarray:
    """Index into ``choices`` of the fastest for every size (vectorised over sizes)."""
    sizes = np.asarray(size_bytes, dtype=float)
    if len(choices) == 1:
        return np.zeros(sizes.shape, dtype=int)
    flat = sizes.reshape(-1)
    estimate = np.array([c.time_s(flat) for c in choices])
    return np.argmin(estimate, axis=0).reshape(sizes.shape)


def chosen(system: System, collective: str, algorithm: str,
           size_bytes: Sequence[float]) -> list[Cost]:
    """The cost NCCL would run at each size (``algorithm`` may be "auto")."""
    costs = options(system, collective, algorithm)
    return [costs[i] for i in choose(np.asarray(size_bytes, dtype=float), costs)]
