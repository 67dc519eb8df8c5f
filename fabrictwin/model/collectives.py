"""Alpha-beta cost of a collective on a tiered system: time = latency + size x seconds/byte.

Bandwidth term. Every algorithm sends a known volume out of each member (GPU,
hyper-node, DC) of each tier, in units of nccl-tests' size S, at the member's payload
rate times the protocol's efficiency; the tiers pipeline, so the slowest sets the pace:

    seconds/byte = max over tiers t of volume_t / (payload_t x protocol efficiency)

Flat ring over N ranks: each member's egress carries 2(N-1)/N x S (all_reduce).
Halving-doubling: a member of B ranks sends 2 B (1 - 1/G) x S (G members): no
locality. Hierarchical ("a/b/c", one stage per tier): ring and halving-doubling
2(n-1)/n, double binary tree and chain 2 (1 for n = 2), NVLink SHARP (1 + 1/n)/e
(S to the switch, 1/n reduced back, 1/n multicast, S received; e of the rate).

Latency term: NCCL's (:mod:`.latency`): a base cost per call, plus NCCL's per-step
cost (tier hardware, algorithm, protocol) for each step this module counts: ring
2(n-1) for all_reduce, split over the tiers crossed; tree 2(ranks per node - 1) chain
steps and 2 log2(members) per tier above; NVLS one step (NVLSTree: and the trees); a
Simple ring all-reduce across nodes x 1.4 beyond a few KiB (NCCL's ring plateau).

Protocol efficiency: LL 4 data bytes per 8 (1/2); LL128 120 per 128; Simple all data.

Across nodes NCCL's channels also have a most they move (:mod:`.ceilings`): a tree's,
an LL128 ring's and NVLSTree's algorithm bandwidth is at most what its search channels
reach, whichever is lower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.ceilings import algbw_ceiling_Bps
from fabrictwin.model.latency import STAGE_FAMILY, base_s, ll_efficiency, ring_plateau, step_s
from fabrictwin.model.pipeline import Pipe, pipe_for
from fabrictwin.model.system import System

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce",
               "alltoall", "sendrecv")
FLAT = ("ring", "hd", "direct")
STAGES = ("ring", "hd", "tree", "chain", "nvls")
#: Named hierarchical algorithms: NCCL's Tree (a chain in the node, double binary trees
#: across nodes) and NVLS (NVLink SHARP in the node; NCCL's NVLSTree across nodes).
NAMED = {"tree": ("chain", "tree", "tree"), "nvls": ("nvls", "tree", "tree"),
         "phased": ("ring", "ring", "ring")}
#: Named algorithms whose stages run one after another rather than pipelined: the
#: emulator's hierarchical all-reduce (reduce-scatter in the node, all-reduce across,
#: all-gather in the node, each phase on the whole buffer). NCCL pipelines its stages
#: over chunks ("ring/ring" here), so the slowest tier alone sets its pace.
PHASED = ("phased",)
ALGORITHMS = ("ring", "tree", "nvls", "hd", "direct", "phased")


@dataclass(frozen=True)
class Protocol:
    name: str
    efficiency: float  # payload fraction of what the GPU stores


PROTOCOLS = {p.name: p for p in (Protocol("LL", 0.5), Protocol("LL128", 120 / 128),
                                 Protocol("Simple", 1.0))}


@dataclass(frozen=True)
class Cost:
    """One algorithm and protocol of one collective on one system.

    ``s_per_byte`` is the asymptote (all channels, largest chunks); ``pipe`` scales it
    up for smaller messages (:mod:`~fabrictwin.model.pipeline`). ``latency_s`` is the
    latency below ``plateau_bytes``, ``plateau`` times it from there on (NCCL's ring
    plateau, :func:`~fabrictwin.model.latency.ring_plateau`).
    """

    algorithm: str
    protocol: str
    latency_s: float
    s_per_byte: float  # seconds per byte of S at the bottleneck tier
    bottleneck: str    # the tier that sets s_per_byte ("" when nothing is sent)
    pipe: Pipe | None = None
    plateau: float = 1.0
    plateau_bytes: float = math.inf
    capped: float = 1.0  # the share of the rate NCCL's per-channel caps leave (1: none binds)

    def latency_factor(self, size_bytes: np.ndarray | float) -> np.ndarray:
        """What the latency is multiplied by at each size (the plateau, or 1)."""
        sizes = np.asarray(size_bytes, dtype=float)
        return np.where(sizes >= self.plateau_bytes, self.plateau, 1.0)

    def latency_at(self, size_bytes: np.ndarray | float) -> np.ndarray:
        """Latency at each size (seconds)."""
        return self.latency_s * self.latency_factor(size_bytes)

    def s_per_byte_at(self, size_bytes: np.ndarray | float) -> np.ndarray:
        """Seconds per byte of S at each size (fewer channels, smaller chunks)."""
        sizes = np.asarray(size_bytes, dtype=float)
        if self.pipe is None:
            return np.full(sizes.shape, self.s_per_byte)
        return self.s_per_byte * self.pipe.factor(sizes)

    def time_s(self, size_bytes: np.ndarray | float) -> np.ndarray:
        sizes = np.asarray(size_bytes, dtype=float)
        return self.latency_at(sizes) + sizes * self.s_per_byte_at(sizes)


def busbw_factor(collective: str, ranks: int) -> float:
    """nccl-tests' bus bandwidth over algorithm bandwidth (doc/PERFORMANCE.md)."""
    check_collective(collective)
    n = ranks
    if collective == "all_reduce":
        return 2 * (n - 1) / n
    if collective in ("all_gather", "reduce_scatter", "alltoall"):
        return (n - 1) / n
    return 1.0


def canonical_collective(name: str) -> str:
    """``allreduce``, ``all-reduce`` and ``all_reduce`` all name all_reduce (nccl-tests style)."""
    key = name.lower().replace("-", "").replace("_", "")
    for c in COLLECTIVES:
        if c.replace("_", "") == key:
            return c
    raise FabricTwinError(f"collective: unknown {name!r} (known: {', '.join(COLLECTIVES)})")


def check_collective(collective: str) -> None:
    if collective not in COLLECTIVES:
        raise FabricTwinError(f"collective: unknown {collective!r} "
                              f"(known: {', '.join(COLLECTIVES)})")


def stages_of(system: System, algorithm: str) -> tuple[str, ...] | None:
    """The per-tier stages of a hierarchical algorithm (None for a flat one)."""
    if algorithm in FLAT:
        return None
    if algorithm in NAMED:
        return NAMED[algorithm][: len(system.tiers)]
    parts = tuple(algorithm.split("/"))
    if len(parts) != len(system.tiers) or any(p not in STAGES for p in parts):
        raise FabricTwinError(
            f"algorithm: unknown {algorithm!r} (known: {', '.join(ALGORITHMS)}, or one stage "
            f"per tier joined by '/', {len(system.tiers)} here, from {', '.join(STAGES)})")
    return parts


def _kind(stages: tuple[str, ...], i: int) -> str:
    """Whose NCCL constants stage ``i`` uses: trees above NVLS are NCCL's NVLSTree."""
    kind = STAGE_FAMILY[stages[i]]
    return "nvls" if kind == "tree" and stages[0] == "nvls" else kind


def efficiency(system: System, tier: int, proto: Protocol, algorithm: str = "ring",
               ceiling: bool = True) -> float:
    """Payload fraction of tier ``tier``'s rate that ``proto`` gets with ``algorithm``
    (LL: also NCCL's LL ceilings unless ``ceiling`` is False,
    :func:`.latency.ll_efficiency`)."""
    if proto.name != "LL":
        return proto.efficiency
    return ll_efficiency(system, tier, proto.efficiency, algorithm, ceiling)


def _bandwidth(system: System, volumes: dict[int, float], proto: Protocol,
               algorithm: str = "ring", ceiling: bool = True) -> tuple[float, int]:
    """Seconds per byte of S and the tier that sets it, from member volumes per tier."""
    worst, index = 0.0, -1
    for i, vol in volumes.items():
        rate = system.tiers[i].payload_bps * efficiency(system, i, proto, algorithm, ceiling)
        s_per_byte = vol * 8 / rate
        if s_per_byte > worst:
            worst, index = s_per_byte, i
    return worst, index


def _crossings(system: System, laps: float, minus: float) -> dict[int, float]:
    """Steps of a path visiting every rank in order that cross each tier (and no higher).

    A lap of the ring crosses the boundary of a tier-t member G_t times (G_t members);
    ``laps`` laps less ``minus`` steps per boundary level, NCCL's step count.
    """
    total = {i: max(laps * system.members(i) - minus, 0.0) if system.members(i) > 1 else 0.0
             for i in range(len(system.tiers))}
    return {i: total[i] - total.get(i + 1, 0.0) for i in total}


def receiver_flags_s(system: System, collective: str) -> float:
    """What a direct all-to-all's receiver spends finding its n-1 peers' flags after all
    of them wrote at once (no step of its own carries it); 0 for other collectives."""
    return (system.ranks - 1) * system.tiers[0].sync_s if collective == "alltoall" else 0.0


def _flat(system: System, collective: str, algorithm: str,
          proto: Protocol) -> tuple[float, dict[int, float]]:
    """Latency and member volumes of the flat ring, halving-doubling and direct algorithms."""
    n = system.ranks
    active = system.active()
    if algorithm == "ring":
        if collective in ("alltoall", "sendrecv"):
            raise FabricTwinError(f"algorithm: ring does not implement {collective} "
                                  "(use direct)")
        laps, vol = {"all_reduce": (2, 2 * (n - 1) / n), "all_gather": (1, (n - 1) / n),
                     "reduce_scatter": (1, (n - 1) / n), "broadcast": (1, 1.0),
                     "reduce": (1, 1.0)}[collective]
        steps = _crossings(system, laps, laps)
        latency = sum(c * step_s(system, i, proto.name) for i, c in steps.items())
        return latency, {i: vol for i in active}
    if algorithm == "hd":
        if collective not in ("all_reduce", "all_gather", "reduce_scatter"):
            raise FabricTwinError(f"algorithm: hd (halving-doubling) does not implement "
                                  f"{collective}")
        phases = 2 if collective == "all_reduce" else 1
        latency, vols = 0.0, {}
        for i in active:
            b, g = system.ranks_per_member(i), system.members(i)
            vols[i] = phases * b * (g - 1) / g
            # log2(G_t) exchanges have partners outside a tier-t member; those above are not ours
            above = math.ceil(math.log2(system.members(i + 1))) if i + 1 < len(
                system.tiers) else 0
            latency += phases * (math.ceil(math.log2(g)) - above) * step_s(system, i, proto.name)
        return latency, vols
    # direct: every rank writes straight to its peers
    if collective == "alltoall":
        vols = {i: system.ranks_per_member(i) * (1 - 1 / system.members(i)) for i in active}
        top = active[-1] if active else 0
        # all peers are written at once; the receiver then finds n - 1 flags
        latency = step_s(system, top, proto.name) + receiver_flags_s(system, collective)
        return latency, vols
    if collective == "sendrecv":
        # one rank per member sends across, at what that rank alone gets through the tier
        vols = {i: system.tiers[i].payload_bps / system.tiers[i].rank_payload_bps
                for i in active}
        top = active[-1] if active else 0
        return step_s(system, top, proto.name), vols
    raise FabricTwinError(f"algorithm: direct implements alltoall and sendrecv, not "
                          f"{collective}")


def _stage(system: System, i: int, stages: tuple[str, ...],
           proto: Protocol) -> tuple[float, float]:
    """Latency and member volume of one all_reduce stage on tier ``i``."""
    t = system.tiers[i]
    n = t.size
    stage, kind = stages[i], _kind(stages, i)
    if stage in ("ring", "hd"):
        hops = 2 * (n - 1) if stage == "ring" else 2 * math.ceil(math.log2(n))
        return hops * step_s(system, i, proto.name), 2 * (n - 1) / n
    if stage == "tree":  # depth floor(log2 n) up and down (NCCL's log2i)
        return (2 * int(math.log2(n)) * step_s(system, i, proto.name, kind),
                2.0 if n > 2 else 1.0)
    if stage == "chain":
        return 2 * (n - 1) * step_s(system, i, proto.name, kind), 2.0 if n > 2 else 1.0
    # nvls: scatter to the switch-mapped buffers, reduce through the switch, multicast,
    # gather back: NCCL prices all of it as one NVLS step (25 us over NVLink)
    if t.reduction_efficiency <= 0:
        raise FabricTwinError(f"algorithm: nvls needs in-switch reduction on the {t.name} "
                              f"tier; {system.name} has none")
    if i != 0:
        raise FabricTwinError("algorithm: nvls applies to the scale-up tier only")
    return step_s(system, i, proto.name, "nvls"), (1 + 1 / n) / t.reduction_efficiency


def protocols_for(system: System, algorithm: str) -> tuple[str, ...]:
    """Protocols an algorithm can run with on this system."""
    stages = stages_of(system, algorithm)
    if algorithm == "direct" or (stages is not None and "nvls" in stages
                                 and system.tiers[0].size > 1):
        return ("Simple",)
    if all(system.tiers[i].ll128 for i in system.active()):
        return ("LL", "LL128", "Simple")
    return ("LL", "Simple")


def cost(system: System, collective: str, algorithm: str, protocol: str) -> Cost:
    """Latency and seconds per byte of ``collective`` with ``algorithm`` and ``protocol``."""
    check_collective(collective)
    stages = stages_of(system, algorithm)
    if protocol not in PROTOCOLS:
        raise FabricTwinError(f"protocol: unknown {protocol!r} (known: {', '.join(PROTOCOLS)})")
    allowed = protocols_for(system, algorithm)
    if protocol not in allowed:
        why = (" (LL128 needs every tier to keep 128-byte stores whole)"
               if protocol == "LL128" else "")
        raise FabricTwinError(f"protocol: {algorithm} cannot run {protocol} on this "
                              f"{system.name} system{why}; it runs {', '.join(allowed)}")
    proto = PROTOCOLS[protocol]
    if stages is not None and stages[0] == "nvls" and system.tiers[0].size == 1:
        raise FabricTwinError("algorithm: nvls needs more than one GPU per node")
    if stages is None:
        latency, vols = _flat(system, collective, algorithm, proto)
    else:
        if collective not in ("all_reduce", "all_gather", "reduce_scatter"):
            raise FabricTwinError(f"algorithm: {algorithm} implements all_reduce only")
        if collective != "all_reduce":
            if stages[0] != "nvls" or system.active() != [0]:
                raise FabricTwinError(f"algorithm: {algorithm} implements all_reduce only "
                                      "(nvls also all_gather/reduce_scatter in one node)")
            t = system.tiers[0]
            if t.reduction_efficiency <= 0:
                raise FabricTwinError(f"algorithm: nvls needs in-switch reduction; "
                                      f"{system.name} has none")
            # one phase of the all_reduce: S out (or in) at the reduction rate
            latency = step_s(system, 0, proto.name, "nvls")
            vols = {0: 1 / t.reduction_efficiency}
        else:
            latency, vols = 0.0, {}
            for i in system.active():
                lat, vol = _stage(system, i, stages, proto)
                latency += lat
                vols[i] = vol
    if system.ranks == 1:  # nothing leaves the GPU
        return Cost(algorithm, protocol, system.launch_s, 0.0, "")
    latency += base_s(system, algorithm, stages, protocol)
    s_per_byte, index = _bandwidth(system, vols, proto, algorithm)
    if index < 0:
        return Cost(algorithm, protocol, latency, 0.0, "")
    if algorithm in PHASED:  # one phase after another: the tiers' times add up
        s_per_byte = sum(_bandwidth(system, {i: v}, proto)[0] for i, v in vols.items())
    eff = efficiency(system, index, proto, algorithm) * (system.tiers[index].reduction_efficiency
                              if stages is not None and stages[index] == "nvls" else 1.0)
    # NCCL's channels across nodes move at most their per-channel caps (.ceilings); a
    # capped channel also moves its chunks more slowly (the pipe's rate)
    uncapped = s_per_byte
    caps_s_per_byte = 1 / algbw_ceiling_Bps(system, collective, algorithm, protocol)
    s_per_byte = max(s_per_byte, caps_s_per_byte)
    eff *= uncapped / s_per_byte
    pipe = pipe_for(system, collective, "ring" if algorithm in PHASED else algorithm,
                    protocol, index, eff)
    if protocol == "LL" and algorithm not in PHASED:
        # NCCL's llMaxBw caps all channels together: the share of their summed rate it
        # leaves, which a message on fewer channels does not lose (the pipe's ramp)
        summed = max(_bandwidth(system, vols, proto, algorithm, ceiling=False)[0],
                     caps_s_per_byte)
        pipe = replace(pipe, ceiling=summed / s_per_byte)
    plateau, plateau_bytes = ring_plateau(system, collective, algorithm, protocol)
    return Cost(algorithm, protocol, latency, s_per_byte,
                system.tiers[index].name, pipe, plateau, plateau_bytes,
                capped=uncapped / s_per_byte)


def step_latency_s(system: System, tier: int, proto: Protocol,
                   algorithm: str = "ring") -> float:
    """Latency of one step of ``algorithm``'s critical path on tier ``tier`` with
    ``proto`` (NCCL's per-step constant, :mod:`.latency`): what the emulator charges
    each step beside the wire (:mod:`.emulated`). Flat algorithms use the ring's
    constants; hierarchical ones those of their stage on that tier."""
    stages = stages_of(system, algorithm)
    return step_s(system, tier, proto.name, "ring" if stages is None else _kind(stages, tier))


def base_latency_s(system: System, algorithm: str, protocol: str) -> float:
    """Per-call latency of ``algorithm`` with ``protocol`` (NCCL's base latency)."""
    if system.ranks == 1:
        return system.launch_s
    return base_s(system, algorithm, stages_of(system, algorithm), protocol)
