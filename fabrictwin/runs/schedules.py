"""What a run's agents are given: the schedule of a collective and algorithm on a fabric,
and the model's figure for the same case (pure: nothing here touches the emulation).

Hierarchical levels follow the hosts' hyper-nodes and data centres, pipeline stages
their hyper-nodes, and ring collectives across hyper-nodes run on NCCL's one ring per
rail (:func:`~fabrictwin.traffic.rings.channel_rings`). A case the emulator could
run but the model has no figure for, on a fabric the model describes, is refused here,
before bring-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.emulated import pipeline_prediction, prediction, system_of
from fabrictwin.topologies.graph import hosts as graph_hosts
from fabrictwin.topologies.graph import node_keys
from fabrictwin.traffic.collectives import build_schedule
from fabrictwin.traffic.rings import channel_rings

#: collective -> algorithm -> schedule builder name
SCHEDULES = {
    "all_reduce": {"ring": "ring_all_reduce", "tree": "double_binary_tree_all_reduce",
                   "hd": "halving_doubling_all_reduce",
                   "hierarchical": "hierarchical_all_reduce"},
    "all_gather": {"ring": "all_gather"},
    "reduce_scatter": {"ring": "reduce_scatter"},
    "broadcast": {"chain": "broadcast", "tree": "broadcast"},
    "alltoall": {"direct": "all_to_all"},
    # pipeline-parallel send/recv: each hyper-node a stage, one microbatch there and back
    "sendrecv": {"pipeline": "pipeline"},
}
#: A broadcast's pieces per ring: about PIECE_BYTES each, between these counts.
PIECE_BYTES = 8 << 10
BROADCAST_PIECES = (4, 64)


def resolve_algorithm(collective: str, algorithm: str) -> str:
    """``auto`` is the first schedule the emulator has for the collective."""
    if algorithm == "auto" and collective in SCHEDULES:
        return next(iter(SCHEDULES[collective]))
    return algorithm


def schedule_for(collective: str, algorithm: str, ranks: int, size_bytes: int,
                 node_of: Sequence[int], dc_of: Sequence[int] | None = None,
                 channels: bool = False) -> Any:
    """The schedule of ``collective`` with ``algorithm``; with ``channels`` (GPUs of
    hyper-nodes) ring collectives run on NCCL's rings across nodes, one per rail
    (:func:`~fabrictwin.traffic.rings.channel_rings`)."""
    algos = SCHEDULES.get(collective)
    if algos is None:
        raise FabricTwinError(f"collective: {collective!r} cannot run in emulation yet "
                              f"(runs: {', '.join(SCHEDULES)})")
    algorithm = resolve_algorithm(collective, algorithm)
    if algorithm not in algos:
        raise FabricTwinError(f"algorithm: {algorithm!r} not available for {collective} "
                              f"(available: {', '.join(algos)})")
    name = algos[algorithm]
    if name == "hierarchical_all_reduce":
        return build_schedule(name, node_of=list(node_of), size_bytes=size_bytes,
                              dc_of=None if dc_of is None else list(dc_of))
    if name == "pipeline":
        stages = len(set(node_of))
        if stages < 2 or ranks % stages:
            raise FabricTwinError(f"sendrecv: a pipeline needs at least 2 hyper-nodes with "
                                  f"the same number of GPUs, got {ranks} GPUs in {stages}")
        return build_schedule(name, stages=stages, microbatches=1, size_bytes=size_bytes,
                              ranks_per_stage=ranks // stages)
    if name == "broadcast":
        chain = algorithm != "tree"
        rings = len(channel_rings(ranks, node_of)) if channels and chain else 1
        # NCCL forwards a broadcast as it arrives (LL/LL128 lines, Simple chunks), not
        # whole: pieces of about two frames per ring keep the chain's fill small
        pieces = min(BROADCAST_PIECES[1], max(BROADCAST_PIECES[0],
                                               math.ceil(size_bytes / rings / PIECE_BYTES)))
        return build_schedule(name, n=ranks, size_bytes=size_bytes,
                              algorithm="chain" if chain else "tree", pipeline=pieces,
                              node_of=list(node_of) if rings > 1 else None)
    if channels and name in ("ring_all_reduce", "all_gather", "reduce_scatter"):
        return build_schedule(name, n=ranks, size_bytes=size_bytes, node_of=list(node_of))
    return build_schedule(name, n=ranks, size_bytes=size_bytes)


def schedule_of(g: Any, hosts: Sequence[str], collective: str, algorithm: str,
                size_bytes: int) -> Any:
    """The schedule the agents on ``hosts`` of ``g`` run: hierarchical levels follow the
    hosts' hyper-nodes and data centres, pipeline stages their hyper-nodes, and rings
    across hyper-nodes NCCL's one ring per rail."""
    keys = node_keys(g, hosts)
    gpus = all("hypernode" in g.nodes[h] for h in hosts)
    return schedule_for(collective, algorithm, len(hosts), size_bytes, node_of_hosts(g, hosts),
                        [dc for dc, _node in keys], channels=gpus)


def traffic_of(g: Any, collective: str, algorithm: str, size_bytes: int,
               ) -> list[list[tuple[str, str]]]:
    """(source, destination) host pairs of each step: what sets the run's dilation.

    Called before bring-up, it also refuses a case the emulator could run but the
    model has no figure for on a fabric it describes (every row stands beside one)."""
    names = graph_hosts(g)
    pairs = host_pairs(schedule_of(g, names, collective, algorithm, size_bytes), names)
    if system_of(g, names) is not None:
        try:
            model_of(g, names, collective, algorithm, size_bytes)
        except FabricTwinError as exc:
            raise FabricTwinError(f"{collective} with {algorithm}: the model has no figure "
                                  f"for it on this fabric ({exc})") from None
    return pairs


def host_pairs(sched: Any, names: Sequence[str]) -> list[list[tuple[str, str]]]:
    """(source, destination) host of every transfer that moves data, step by step."""
    return [[(names[t.src], names[t.dst]) for t in step if t.size_bytes] for step in sched.steps]


def model_of(g: Any, hosts: Sequence[str], collective: str, algorithm: str,
             size_bytes: int) -> Any:
    """The model's prediction for the emulated case (a pipeline: per stage boundary)."""
    if algorithm != "pipeline":
        return prediction(system_of(g, hosts), collective, algorithm, size_bytes)
    node_of = node_of_hosts(g, hosts)
    stages = [[h for h, n in zip(hosts, node_of, strict=True) if n == k]
              for k in sorted(set(node_of))]
    return pipeline_prediction([system_of(g, a + b) for a, b in zip(stages, stages[1:],
                                                                     strict=False)], size_bytes)


def node_of_hosts(g: Any, hosts: Sequence[str]) -> list[int]:
    """Hyper-node (or server) index of each host, for hierarchical schedules."""
    keys = node_keys(g, hosts)
    index = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return [index[k] for k in keys]
