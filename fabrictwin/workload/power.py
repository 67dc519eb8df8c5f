"""A job's power from its hardware profile: GPUs, scale-up switches, NICs, optics, scale-out.

Counted at the profiles' rated power (TDP), an upper bound a busy training job nears:
GPUs; each node's scale-up switch chips; every NIC and its optic; scale-out switches
of a two-level Clos, ``ceil(NICs / (radix/2))`` leaves and as many spine ports as leaf
uplinks, each used port with an optic. Hosts' CPUs, memory, fans and cooling are left
out (a PUE multiplies the total). Missing figures count 0 and are listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fabrictwin.workload.cluster import Cluster


@dataclass(frozen=True)
class Power:
    gpus_w: float
    scale_up_w: float
    nics_w: float
    scale_out_w: float
    missing: tuple[str, ...] = field(default=())

    @property
    def total_w(self) -> float:
        return self.gpus_w + self.scale_up_w + self.nics_w + self.scale_out_w


def power(cluster: Cluster, gpus: int) -> Power:
    hn, sw = cluster.hn, cluster.switch
    nodes = cluster.nodes_for(gpus)
    missing = [name for name, v in (("gpu.power_w", hn.gpu.power_w),
                                    ("chip.power_w", hn.chip.power_w),
                                    ("nic.power_w", hn.nic.power_w),
                                    ("switch.power_w", sw.power_w)) if not v]
    up = nodes * hn.chips * hn.chip.power_w
    if nodes == 1:
        return Power(gpus * hn.gpu.power_w, up, 0.0, 0.0, tuple(missing[:2]))
    nics = nodes * hn.gpus * hn.nics_per_gpu
    nic_w = nics * (hn.nic.power_w + hn.nic.ports * hn.nic.optic_power_w)
    leaves = math.ceil(nics / max(sw.radix // 2, 1))
    spines = math.ceil(leaves * (sw.radix // 2) / sw.radix) if leaves > 1 else 0
    ports = nics + (2 * leaves * (sw.radix // 2) if spines else 0)
    out_w = (leaves + spines) * sw.power_w + ports * sw.optic_power_w
    return Power(gpus * hn.gpu.power_w, up, nic_w, out_w, tuple(missing))
