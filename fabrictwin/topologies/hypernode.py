"""Hyper-node (scale-up domain) builder: compute trays x switch trays, orthogonal crossbar.

Follows the orthogonal-backplane (OEX) design of rack-scale systems such as
NVIDIA GB200 NVL72 (18 compute trays x 4 GPUs, 9 switch trays x 2 NVLink switch
chips, every GPU linked to every chip) and of 8-GPU baseboards (DGX H100: 4
NVSwitch chips, 5/4/4/5 NVLinks from each GPU).
"""

from __future__ import annotations

import networkx as nx

from fabrictwin.hardware.catalogue import HyperNode
from fabrictwin.topologies.graph import add_host, add_link, add_switch, check_names, new_graph


def add_hypernode(g: nx.Graph, hn: HyperNode, *, prefix: str = "", collapse: bool = False,
                  **ids: int) -> list[str]:
    """Add one hyper-node's GPUs and switch chips to ``g``; return its GPU names in order.

    GPU ``i`` is ``{prefix}g{i}``, chip ``j`` is ``{prefix}c{j}``. With ``collapse``
    the symmetric planes become one switch ``{prefix}c0`` and one link per GPU of
    the GPU's whole scale-up rate (``links`` records how many were bundled), which
    preserves per-GPU bandwidth with far fewer interfaces to emulate.
    """
    gpus = [
        add_host(g, f"{prefix}g{i}", "gpu", "scale-up", gpu=i, tray=i // hn.gpus_per_tray,
                 slot=i % hn.gpus_per_tray, **ids)
        for i in range(hn.gpus)
    ]
    chip = hn.chip
    if collapse:
        sw = add_switch(g, f"{prefix}c0", "chip", "scale-up", radix=chip.radix * hn.chips,
                        latency_ns=chip.latency_ns, buffer_bytes=chip.buffer_bytes * hn.chips,
                        chip=0, planes=hn.chips, **ids)
        for gpu in gpus:
            add_link(g, gpu, sw, tier="scale-up", rate_bps=hn.gpu.rate_bps,
                     latency_ns=hn.link_latency_ns, links=hn.links_per_gpu)
        return gpus
    chips = [
        add_switch(g, f"{prefix}c{j}", "chip", "scale-up", radix=chip.radix,
                   latency_ns=chip.latency_ns, buffer_bytes=chip.buffer_bytes, chip=j,
                   tray=j // hn.chips_per_tray, **ids)
        for j in range(hn.chips)
    ]
    # GPU-major order, so a GPU's port j+1 faces chip j, as on the backplane.
    for gpu in gpus:
        for sw, links in zip(chips, hn.links_per_chip, strict=True):
            add_link(g, gpu, sw, tier="scale-up", rate_bps=links * hn.link_rate_bps,
                     latency_ns=hn.link_latency_ns, links=links)
    return gpus


def hypernode(hn: HyperNode, collapse: bool = False) -> nx.Graph:
    """One hyper-node: ``hn.gpus`` GPU hosts, each linked to all ``hn.chips`` switch chips.

    Any GPU reaches any other through one chip (2 hops); the bisection splits the
    GPUs in half and is ``floor(n/2)`` x the per-GPU rate.
    """
    g = new_graph("hypernode")
    gpus = add_hypernode(g, hn, collapse=collapse, hypernode=0)
    n = len(gpus)
    g.graph["design"] = {
        "bisection_bps": (n // 2) * hn.gpu.rate_bps,
        "oversubscription": 1.0,
    }
    g.graph["bisection_a"] = gpus[: n // 2]
    g.graph["representatives"] = gpus[:1]  # every GPU sees the same crossbar
    g.graph["hardware"] = {"hypernode": hn}
    check_names(g)
    return g
