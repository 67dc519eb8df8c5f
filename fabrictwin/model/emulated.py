"""The model's view of an emulated fabric: its system, and what its endpoints pay.

The emulator moves real frames over dilated links, which is the wire. What a GPU
pays beside the wire comes from the model, so that both halves of the twin use one
source of truth (docs/projection.md, "Endpoint costs"):

- ``launch_s``: the collective call's fixed cost, paid once before the first step: NCCL's
  base latency of the algorithm and protocol the model runs at this size
  (:func:`~fabrictwin.model.collectives.base_latency_s`, :mod:`.latency`), and for a
  direct all-to-all also the receiver's n-1 flag checks, which no step carries; it and
  the steps' latencies carry the model's latency factor at this size (NCCL's ring
  plateau);
- ``step_s[t]``: each step crossing tier ``t`` waits the model's per-step latency for
  that algorithm and protocol on that tier (NCCL's per-step constant for the tier's
  hardware, :func:`~fabrictwin.model.collectives.step_latency_s`); the runs layer takes
  off what the emulated links already delay, so no latency is paid twice;
- ``rate_bps[t]``: a transfer crossing tier ``t`` moves payload no faster than one GPU
  pushes through that tier with that protocol (the link layer's efficiency times the
  protocol's: LL carries a flag with every 4 bytes, and stays under NCCL's LL ceiling,
  :func:`~fabrictwin.model.collectives.efficiency`) on the channels NCCL runs at this
  size (:mod:`.pipeline`), however fast the emulated wire is; across nodes, no faster
  than NCCL's per-channel caps leave (:mod:`.ceilings`: a capped channel moves all it
  carries more slowly, on every tier, as the model's rate). A GPU's sends of one step
  over one tier share it (:func:`fabrictwin.runs.endpoint.transfer_charges`).

With the fabric uncongested the emulated time then equals the model's; what differs
is what the emulator saw and the model assumes away (queues, collisions, pauses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.algorithm import chosen
from fabrictwin.model.collectives import (
    PROTOCOLS,
    base_latency_s,
    efficiency,
    receiver_flags_s,
    step_latency_s,
)
from fabrictwin.model.predict import Prediction, predict
from fabrictwin.model.system import System, build_system
from fabrictwin.topologies.graph import node_keys

#: The emulator's algorithm names -> the model's, per number of active tiers.
_FLAT = {"ring": "ring", "hd": "hd", "direct": "direct", "chain": "ring", "tree": "tree",
         "pipeline": "direct"}  # a pipeline's sends are point to point


@dataclass(frozen=True)
class EndpointCharges:
    """What every step of one collective of one size pays beside the wire (seconds, b/s)."""

    algorithm: str
    protocol: str
    launch_s: float
    step_s: tuple[float, ...]  # per tier, innermost first
    rate_bps: tuple[float, ...]  # payload rate of one transfer crossing the tier


def system_of(g: Any, ranks: Sequence[str]) -> System | None:
    """The model's system for ``ranks`` (host names) of topology ``g``; None when ``g``
    carries no hyper-node profile (a plain Clos of hosts has no GPU to model).

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    >>> s = system_of(g, sorted(h for h, d in g.nodes(data=True) if d["kind"] == "host"))
    >>> [(t.name, t.size) for t in s.tiers]
    [('scale-up', 8), ('scale-out', 2)]
    """
    hw = g.graph.get("hardware", {})
    hn = hw.get("hypernode")
    if hn is None or not ranks:
        return None
    keys = node_keys(g, ranks)
    nodes = len(set(keys))
    dcs = len({dc for dc, _ in keys})
    if len(ranks) % nodes:
        raise FabricTwinError(f"model: {len(ranks)} ranks are not spread evenly over "
                              f"{nodes} hyper-nodes")
    if nodes == 1:
        return build_system(hn, len(ranks))
    node0 = [h for h, k in zip(ranks, keys, strict=True) if k == keys[0]]
    nics = [d["rate_bps"] for h in node0 for _, _, d in g.edges(h, data=True)
            if d.get("tier") == "scale-out"]
    if not nics:
        raise FabricTwinError("model: the hyper-nodes have no scale-out links")
    return build_system(hn, len(ranks), nodes=nodes, nics_per_node=len(nics),
                        nic_rate_bps=min(nics), switch=hw.get("switch"), dcs=dcs,
                        dci=hw.get("dci"), dci_links=g.graph.get("dci_links", 1),
                        distance_m=g.graph.get("distance_m", 50_000.0))


def model_algorithm(algorithm: str, system: System) -> str:
    """The model's name for an algorithm the emulator runs.

    >>> from fabrictwin.hardware.profiles import ProfileLibrary
    >>> lib = ProfileLibrary()
    >>> s = build_system(lib.load("dgx-h100"), 16, switch=lib.load("tomahawk5-51t2"))
    >>> model_algorithm("hierarchical", s), model_algorithm("ring", s)
    ('phased', 'ring')
    """
    if algorithm == "hierarchical":  # its phases run one after another, not pipelined
        return "phased"
    if algorithm not in _FLAT:
        raise FabricTwinError(f"model: no model of the emulated algorithm {algorithm!r}")
    return _FLAT[algorithm]


def prediction(system: System, collective: str, algorithm: str,
               size_bytes: int) -> Prediction:
    """The model's figures for the emulated algorithm at one size."""
    return predict(system, collective, [size_bytes], model_algorithm(algorithm, system))


def endpoint_charges(system: System, collective: str, algorithm: str,
                     size_bytes: int) -> EndpointCharges:
    """What each step pays beside the wire, for the protocol the model picks at this size.

    >>> from fabrictwin.hardware.profiles import ProfileLibrary
    >>> s = build_system(ProfileLibrary().load("dgx-h100"), 8)
    >>> c = endpoint_charges(s, "all_reduce", "ring", 8)
    >>> c.protocol, round(c.launch_s * 1e6, 1), round(c.step_s[0] * 1e6, 1)
    ('LL', 6.6, 0.6)
    """
    (cost,) = chosen(system, collective, model_algorithm(algorithm, system), [size_bytes])
    proto = PROTOCOLS[cost.protocol]
    # fewer channels and smaller chunks at this size (model.pipeline): a slower endpoint
    slower = float(cost.pipe.factor(np.array([size_bytes]))[0]) if cost.pipe else 1.0
    plateau = float(cost.latency_factor(size_bytes))  # NCCL's ring plateau, as the model
    launch_s = base_latency_s(system, cost.algorithm, proto.name)
    if cost.algorithm == "direct":  # no step carries the receiver's flag checks
        launch_s += receiver_flags_s(system, collective)
    return EndpointCharges(
        algorithm=cost.algorithm, protocol=proto.name,
        launch_s=launch_s * plateau,
        step_s=tuple(step_latency_s(system, i, proto, cost.algorithm) * plateau
                     for i in range(len(system.tiers))),
        rate_bps=tuple(t.rank_payload_bps * efficiency(system, i, proto, cost.algorithm) / slower
                       * cost.capped for i, t in enumerate(system.tiers)))


def pipeline_prediction(boundaries: Sequence[System], size_bytes: int) -> Prediction:
    """The model's pipeline send/recv of one microbatch forward through every stage and
    back: one ``sendrecv`` per stage boundary each way, one after another (each on the
    system of the two stages it joins, so a boundary across a DCI pays the DCI).

    >>> from fabrictwin.hardware.profiles import ProfileLibrary
    >>> lib = ProfileLibrary()
    >>> two = build_system(lib.load("dgx-h100"), 16, nodes=2, nics_per_node=8,
    ...                    nic_rate_bps=400e9, switch=lib.load("tomahawk5-51t2"))
    >>> p = pipeline_prediction([two], 1 << 20)
    >>> bool(p.time_s[0] == 2 * prediction(two, "sendrecv", "direct", 1 << 20).time_s[0])
    True
    """
    if not boundaries:
        raise FabricTwinError("model: a pipeline needs at least two stages")
    parts = [prediction(s, "sendrecv", "direct", size_bytes) for s in boundaries]
    time_s = 2 * sum(p.time_s for p in parts)
    algbw = size_bytes / time_s / 1e9
    slowest = max(parts, key=lambda p: float(p.time_s[0]))
    stages = len(boundaries) + 1  # each boundary's system holds two stages
    return Prediction("sendrecv", boundaries[0].ranks // 2 * stages, parts[0].size_bytes,
                      time_s, algbw, algbw, slowest.algorithm, slowest.protocol,
                      slowest.bottleneck)
