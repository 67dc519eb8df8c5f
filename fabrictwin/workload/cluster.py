"""A job's GPUs on hyper-node profiles, and the projection-model systems of its groups.

Placement (Megatron's order): TP ranks are adjacent (one scale-up domain), then PP
stages, then DP replicas. A group of ``size`` ranks spaced ``stride`` apart puts
``max(1, gpus_per_node // stride)`` of them in each node; each member uses its own
NIC. The group's :class:`~fabrictwin.model.system.System` is what
:func:`fabrictwin.model.predict` costs its collectives on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import HyperNode, SwitchChip
from fabrictwin.model import System, build_system


@dataclass(frozen=True)
class Cluster:
    """Hyper-nodes of one profile, a scale-out switch, and optional NIC rate override."""

    hn: HyperNode
    switch: SwitchChip
    nic_rate_bps: float | None = None
    #: measured slowdowns of traffic sharing the fabric (``dp``, ``kv_transfer``: together /
    #: alone, from an emulated run: runs.interference); 1 where not measured
    interference: Mapping[str, float] = field(default_factory=dict)

    def slowdown(self, what: str) -> float:
        return float(self.interference.get(what, 1.0))

    def check_peak(self, dtype: str) -> float:
        """Peak dense FLOP/s per GPU for ``dtype`` (FP8 falls back to BF16 without it)."""
        gpu = self.hn.gpu
        peak = gpu.fp8_flops if dtype == "fp8" and gpu.fp8_flops else gpu.bf16_flops
        if not peak > 0:
            raise FabricTwinError(f"{self.hn.name}: gpu.bf16_flops: not given in the profile")
        return peak

    def group(self, size: int, stride: int) -> System:
        """The system of ``size`` ranks spaced ``stride`` GPUs apart."""
        per_node = self.hn.gpus
        if stride * size <= per_node:
            return build_system(self.hn, size)
        in_node = max(1, per_node // stride)
        if size % in_node:
            raise FabricTwinError(f"{self.hn.name}: a group of {size} ranks does not split "
                                  f"evenly over nodes of {per_node} GPUs")
        return build_system(self.hn, size, nodes=size // in_node,
                            nics_per_node=in_node * self.hn.nics_per_gpu,
                            nic_rate_bps=self.nic_rate_bps, switch=self.switch)

    def nodes_for(self, gpus: int) -> int:
        if gpus % self.hn.gpus and gpus > self.hn.gpus:
            raise FabricTwinError(f"{gpus} GPUs are not a whole number of {self.hn.name} "
                                  f"nodes of {self.hn.gpus}")
        return max(1, gpus // self.hn.gpus)
