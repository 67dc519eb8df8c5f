"""NCCL's latency model: a base cost per call and a cost per step, by hardware, algorithm, protocol.

All constants come from NCCL's own tuner, which NVIDIA calibrated on real machines:
``NVIDIA/nccl`` v2.30.7 (commit ``5067397c2676d5aed50042fc39e5c8ee96eb0027``),
``src/graph/tuning.cc``: ``baseLatencies`` and ``hwLatencies`` in
``ncclTunerConstantsDefaults`` (lines 148-176), ``getNetOverhead`` (lines 225-233), and
how ``ncclTopoTuneModel`` combines them (lines 384-435). NCCL uses one table for every
GPU generation; so does this model.

How a collective's latency is built from them (:mod:`.collectives` counts the steps):

- ``ring``: ``base + intra steps x intra + inter steps x inter`` with NCCL's counts
  (all_reduce ``2(n-1)`` steps of which ``2(nodes-1)`` cross the network;
  all_gather/reduce_scatter half). On several nodes an NVLink step costs at least the
  network post overhead (1 us, 3 us for Simple: NCCL's x86 Intel and default figure).
  With one GPU per node every network step costs the tree's (NCCL: "latencies fully
  exposed").
- ``tree``: ``base + 2 ((ranks per node - 1) x intra + log2(nodes) x inter)``.
- ``nvls`` in one node: the NVLS constant alone (25 us Simple; base 0); across nodes
  NCCL's NVLSTree: ``25 + 2 log2(nodes) x 20.9 us``.
- the ring's plateau: a Simple ring all-reduce across nodes pays its whole latency x 1.4
  (x 1.9 before Ampere) once each rank's share per channel reaches 64 bytes, that is
  from a few KiB on (``ncclTopoGetAlgoTime``, lines 647-650, "Plateau effect of ring").

A tier's hardware: the scale-up (NVLink) tier is ``NVLINK``; scale-out and
scale-across are ``NET``. NCCL adds a network's own latency (``latencyInter``, which
its IB plugin leaves at 0) to every network step; here the scale-across tier adds its
physical extra, ``Tier.extra_s`` (DCI routers and fibre), so distance still matters.
NCCL adds ``latencyInter`` a second time for Simple (the GPUDirect flush); that flush
is a local PCIe read, so the fibre is counted once here.

NCCL pairs its cheap LL latency with a low LL bandwidth: a ring's LL bus bandwidth is
at most ``llMaxBw`` (lines 177-183, 327): in one node by GPU generation (Ampere 87.7,
Hopper 141, Blackwell 282 GB/s), across nodes by CPU (x86 Intel, NCCL's default row:
39 GB/s on two nodes, 20.4 on more), and a tree's is a further 1/3.8 of its bus
bandwidth (line 332). :func:`ll_ceiling_Bps` and :data:`TREE_LL_FACTOR` carry those
two rules over to the model's LL rates; without them NCCL's LL latency would come
with the model's far faster LL (half the link rate) and win sizes NCCL runs LL128 or
Simple for.

Algorithms NCCL has no constants for -- halving-doubling, direct (alltoall/sendrecv),
the emulator's phased all-reduce and explicit staged forms such as ``ring/tree`` --
use the ring's base, and per step the ring's constants for ``ring`` and ``hd`` stages,
the tree's for ``tree`` and ``chain`` stages, NVLS's for an ``nvls`` stage, on the
tier's hardware. Those are estimates by analogy, not NCCL's figures.
"""

from __future__ import annotations

import math

from fabrictwin.model.ceilings import generation
from fabrictwin.model.system import System

US = 1e-6
PROTOS = ("LL", "LL128", "Simple")
#: baseLatencies (us), LL/LL128/Simple (tuning.cc line 151-153).
BASE_US = {"tree": (6.8, 14.0, 8.4), "ring": (6.6, 14.0, 8.4),
           "nvls": (0.0, 0.0, 0.0), "nvlstree": (0.0, 0.0, 0.0)}
#: hwLatencies (us) per step, hardware -> algorithm -> LL/LL128/Simple (lines 157-175).
HW_US = {
    "NVLINK": {"tree": (0.6, 1.25, 4.0), "ring": (0.6, 1.9, 3.4),
               "nvls": (0.0, 0.0, 25.0), "nvlstree": (0.0, 0.0, 25.0)},
    "PCI": {"tree": (1.0, 1.9, 4.0), "ring": (1.0, 2.5, 5.7),
            "nvls": (0.0, 0.0, 0.0), "nvlstree": (0.0, 0.0, 0.0)},
    "NET": {"tree": (5.0, 8.5, 14.0), "ring": (2.7, 4.0, 14.0),
            "nvls": (0.0, 0.0, 18.0), "nvlstree": (0.0, 0.0, 20.9)},
}
#: getNetOverhead: 1 us (x86 Intel and the default; 2 us on AMD), x3 for Simple (line 408).
NET_OVERHEAD_US = 1.0
SIMPLE_NET_OVERHEAD_FACTOR = 3
#: llMaxBws (GB/s of bus bandwidth): one node by GPU name, several nodes (x86 Intel row).
LL_MAX_ONE_NODE_GBPS = (("V100", 39.0), ("A100", 87.7), ("H100", 141.0), ("H200", 141.0),
                        ("B200", 282.0), ("B300", 282.0))
LL_MAX_TWO_NODES_GBPS, LL_MAX_MORE_NODES_GBPS = 39.0, 20.4
#: Tree LL bus bandwidth over the tree's (Simple) bus bandwidth (line 332).
TREE_LL_FACTOR = 1 / 3.8
#: The ring's plateau (ncclTopoGetAlgoTime): latency factor before Ampere / from Ampere on
#: (NCCL: minCompCap < 80), and the share per rank and channel from which it applies.
RING_PLATEAU_PRE_AMPERE, RING_PLATEAU = 1.9, 1.4
RING_PLATEAU_MIN_SHARE = 64
#: Our stages and algorithms -> the NCCL algorithm whose constants they use.
STAGE_FAMILY = {"ring": "ring", "hd": "ring", "tree": "tree", "chain": "tree", "nvls": "nvls"}


def hardware(system: System, tier: int) -> str:
    """NCCL's hardware type of a tier: NVLINK for scale-up, NET for the network tiers."""
    return "NVLINK" if system.tiers[tier].name == "scale-up" else "NET"


def multi_node(system: System) -> bool:
    """More than one scale-up domain (NCCL's nNodes > 1)."""
    return system.ranks > system.tiers[0].size


def family(system: System, algorithm: str, stages: tuple[str, ...] | None) -> str:
    """The NCCL algorithm whose base latency a call of ``algorithm`` pays."""
    if algorithm == "tree":
        return "tree"
    if stages is not None and stages[0] == "nvls" and system.tiers[0].size > 1:
        return "nvlstree" if multi_node(system) else "nvls"
    return "ring"  # ring, and by analogy hd, direct, phased, other staged forms


def base_s(system: System, algorithm: str, stages: tuple[str, ...] | None,
           protocol: str) -> float:
    """Per-call latency (NCCL's baseLatencies) of ``algorithm`` with ``protocol``."""
    return BASE_US[family(system, algorithm, stages)][PROTOS.index(protocol)] * US


def step_s(system: System, tier: int, protocol: str, kind: str = "ring") -> float:
    """Latency of one step crossing tier ``tier`` for NCCL algorithm ``kind``.

    ``kind`` is ``ring`` or ``tree`` (``nvls``/``nvlstree``: the one NVLS step).
    """
    p = PROTOS.index(protocol)
    hw = hardware(system, tier)
    if hw == "NVLINK":
        if kind == "nvls" and multi_node(system):
            kind = "nvlstree"
        lat = HW_US["NVLINK"][kind][p]
        if kind == "ring" and multi_node(system):  # rings still post to the network
            overhead = NET_OVERHEAD_US * (SIMPLE_NET_OVERHEAD_FACTOR if protocol == "Simple"
                                          else 1)
            lat = max(lat, overhead)
        return lat * US
    if kind == "nvls":
        kind = "nvlstree"  # across nodes NVLS runs as NVLSTree here
    if system.tiers[0].size == 1 and kind in ("ring", "tree"):
        kind = "tree"  # one GPU per node: NCCL uses the tree's network latency
    return HW_US["NET"][kind][p] * US + system.tiers[tier].extra_s


def ring_plateau(system: System, collective: str, algorithm: str,
                 protocol: str) -> tuple[float, float]:
    """NCCL's plateau of the ring: (latency factor, size in bytes from which it applies).

    Only a Simple ring all-reduce across nodes; NCCL compares the size per rank per
    channel of the communicator (all its channels) with 64 bytes.

    >>> from fabrictwin.hardware.profiles import ProfileLibrary
    >>> from fabrictwin.model.system import build_system
    >>> lib = ProfileLibrary()
    >>> two = build_system(lib.load("dgx-h100"), 16, nodes=2, switch=lib.load("tomahawk5-51t2"))
    >>> ring_plateau(two, "all_reduce", "ring", "Simple")
    (1.4, 32768)
    >>> ring_plateau(two, "all_reduce", "ring", "LL128")
    (1.0, inf)
    """
    if not (algorithm == "ring" and protocol == "Simple" and collective == "all_reduce"
            and multi_node(system)):
        return 1.0, math.inf
    factor = RING_PLATEAU_PRE_AMPERE if generation(system) == 0 else RING_PLATEAU
    return factor, RING_PLATEAU_MIN_SHARE * system.channels * system.ranks


def ll_ceiling_Bps(system: System) -> float:
    """NCCL's ``llMaxBw``: the most LL bus bandwidth one member reaches (bytes/s)."""
    nodes = system.ranks // system.tiers[0].size
    if nodes > 1:
        return (LL_MAX_TWO_NODES_GBPS if nodes == 2 else LL_MAX_MORE_NODES_GBPS) * 1e9
    name = system.gpu_model.upper()
    return next((gbps * 1e9 for key, gbps in LL_MAX_ONE_NODE_GBPS if key in name), math.inf)


def ll_efficiency(system: System, tier: int, efficiency: float, algorithm: str,
                  ceiling: bool = True) -> float:
    """LL's payload fraction of tier ``tier``'s rate under NCCL's rules: the tree's
    1/3.8 (of every channel), and (``ceiling``) no more than ``llMaxBw`` per member.

    NCCL caps all channels together at ``llMaxBw`` (tuning.cc line 327:
    ``min(llMaxBw, nChannels x bw x .5)``), not each one: ``ceiling=False`` gives what
    the channels reach without it, from which a message on fewer channels is slowed.
    """
    eff = TREE_LL_FACTOR if algorithm == "tree" else efficiency
    if not ceiling:
        return eff
    return min(eff, 8 * ll_ceiling_Bps(system) / system.tiers[tier].payload_bps)
