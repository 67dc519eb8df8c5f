"""NCCL's per-channel bandwidth ceilings across nodes: what one channel of a tree, an LL128
ring or an NVLSTree moves at most, however fast the links.

NCCL's tuner (``NVIDIA/nccl`` 2.30.7, commit ``5067397c``, ``src/graph/tuning.cc``,
``ncclTunerConstantsDefaults`` and ``ncclTopoTuneModel``) caps the bus bandwidth of
these algorithms at ``search channels x perChMax*Bw``, by GPU generation and node count
(1, 2, more than 2). The caps are per channel, so they describe the channels' own
throughput (one pair of CTAs each), not the wires': NVIDIA calibrated them on real
machines, and a run that forces more channels gets past them (``NCCL_MIN_NCHANNELS``).

- tree all_reduce: ``perChMaxTreeBws``, and for LL128 also ``perChMaxTreeLL128Bws``;
  NCCL turns a tree's bus bandwidth into algorithm bandwidth x 0.5;
- ring with LL128: ``perChMaxRingLL128Bws``; ring bus bandwidth is algorithm
  bandwidth x (steps / ranks), nccl-tests' bus bandwidth factor;
- NVLSTree (the model's ``nvls`` across nodes): ``perChMaxNVLSTreeBws``; bus
  bandwidth as the ring's.

Search channels: across nodes NCCL's topology search (``src/graph/search.cc``
``ncclTopoCompute``) lays one channel through each NIC at the NIC's speed (48 GB/s for
400G, a speed step at or below the NIC's 50 GB/s), and does not duplicate channels of
that speed on Hopper and later (``ncclTopoDupChannels``); NCCL then runs two execution
channels per search channel (``src/graph/connect.cc`` ``ncclTopoPostset``), e.g. "8
channels on graph.xml" with 8 NICs per H100 node (NVIDIA/nccl#1041). The model takes
the NICs per node, at most ``MAX_SEARCH_CHANNELS`` (NCCL's ``MAXCHANNELS / 2``), or the
GPUs per node for NVLSTree (one NVLS head per GPU). Within one node the search channels
follow NVLink speed steps, not NICs, and the model applies no cap there.
"""

from __future__ import annotations

import math

from fabrictwin.model.system import System

#: perChMax*Bws (GB/s of bus bandwidth per search channel), by generation (Volta, Ampere,
#: Hopper, Blackwell) and nodes (1, 2, more): tuning.cc ncclTunerConstantsDefaults. The
#: 1-node column is kept for reference; the model applies the caps across nodes only.
PER_CHANNEL_GBPS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "ring_ll128": ((20.0, 20.0, 20.0), (20.0, 20.0, 20.0), (36.7, 36.7, 36.7),
                   (40.0, 40.0, 40.0)),
    "tree_ll128": ((20.0, 20.0, 20.0), (20.0, 20.0, 20.0), (36.7, 36.7, 29.0),
                   (55.6, 31.67, 20.0)),
    "tree": ((26.5, 18.5, 10.0), (24.0, 23.6, 17.8), (38.7, 41.4, 36.0),
             (70.0, 42.8, 24.0)),
    "nvlstree": ((26.5, 18.5, 10.0), (24.0, 23.6, 17.8), (0.0, 57.7, 45.5),
                 (0.0, 96.0, 80.0)),
}
#: GPU name -> NCCL's compute-capability index (Volta 0, Ampere 1, Hopper 2, Blackwell 3).
GENERATIONS = (("V100", 0), ("A100", 1), ("H100", 2), ("H200", 2), ("GB200", 3), ("B200", 3),
               ("B300", 3), ("GB300", 3))
#: NCCL's ring and tree graphs search at most MAXCHANNELS / 2 channels (src/init.cc).
MAX_SEARCH_CHANNELS = 16
#: NCCL's tree: algorithm bandwidth = bus bandwidth x 0.5 (tuning.cc, "ratio *= .5").
TREE_BUS_TO_ALG = 0.5


def generation(system: System) -> int | None:
    """NCCL's compute-capability index of the system's GPU (None: not known)."""
    name = system.gpu_model.upper()
    return next((gen for key, gen in GENERATIONS if key in name), None)


def nodes(system: System) -> int:
    """Scale-up domains (NCCL's nNodes)."""
    return system.ranks // system.tiers[0].size


def search_channels(system: System, algorithm: str) -> int:
    """NCCL's search channels across nodes: one per NIC (NVLSTree: at most one per GPU)."""
    if nodes(system) < 2 or len(system.tiers) < 2:
        return 0
    nics = system.tiers[1].nics
    limit = system.tiers[0].size if algorithm == "nvls" else MAX_SEARCH_CHANNELS
    return min(nics, limit)


def _caps(collective: str, algorithm: str, protocol: str) -> tuple[str, ...]:
    """Which of NCCL's per-channel caps apply to this choice."""
    if algorithm == "tree" and collective == "all_reduce":
        return ("tree", "tree_ll128") if protocol == "LL128" else ("tree",)
    if algorithm == "ring" and protocol == "LL128":
        return ("ring_ll128",)
    if algorithm == "nvls" and collective == "all_reduce":
        return ("nvlstree",)
    return ()


def algbw_ceiling_Bps(system: System, collective: str, algorithm: str, protocol: str) -> float:
    """The most algorithm bandwidth (bytes/s of S) NCCL's channels reach across nodes
    with this choice; inf within one node, for GPUs or algorithms NCCL has no cap for."""
    gen = generation(system)
    keys = _caps(collective, algorithm, protocol)
    channels = search_channels(system, algorithm)
    if gen is None or not keys or channels < 1:
        return math.inf
    column = 1 if nodes(system) == 2 else 2
    per_channel = [PER_CHANNEL_GBPS[k][gen][column] for k in keys]
    per_channel = [c for c in per_channel if c > 0]
    if not per_channel:
        return math.inf
    busbw = channels * min(per_channel) * 1e9
    if algorithm == "tree":
        return busbw * TREE_BUS_TO_ALG
    n = system.ranks
    steps = {"all_reduce": 2 * (n - 1), "all_gather": n - 1,
             "reduce_scatter": n - 1}.get(collective, n)
    return busbw * n / steps
