"""AI factory: hyper-nodes, a rail-optimized scale-out Clos between them, DCI across sites.

Per data centre ``d``: ``hypernodes`` scale-up domains (GPU ``d{d}n{n}g{i}``, chips
``d{d}n{n}c{j}``); every compute tray is a server of a rail-optimized Clos whose
rails are the GPU slots of a tray (GB200 NVL72: 4 ConnectX NICs per tray, 4
rails), so GPU ``i`` of every tray meets on rail leaf ``d{d}l{group}r{slot}``.
With more than one DC, a DCI router per DC and a full mesh of DCI links.
"""

from __future__ import annotations

import networkx as nx

from fabrictwin.hardware.catalogue import DCILink, HyperNode, SwitchChip
from fabrictwin.topologies.clos import add_clos, clos_sides, two_level_bisection_bps
from fabrictwin.topologies.graph import check_names, new_graph, require, require_int
from fabrictwin.topologies.hypernode import add_hypernode
from fabrictwin.topologies.multidc import add_dci_mesh, dc_outbound_bps, mesh_bisection_bps


def ai_factory(hypernodes: int, hn: HyperNode, switch: SwitchChip, dci: DCILink, *,
               dcs: int = 1, collapse: bool = True, distance_m: float = 50_000.0,
               dci_links: int = 1, dci_routers: int = 1, servers_per_group: int | None = None,
               spines: int | None = None, cable_m: float = 10.0) -> nx.Graph:
    """``dcs`` x ``hypernodes`` hyper-nodes of ``hn`` joined by scale-out and scale-across.

    The bisection splits DCs in half when there are several, else hyper-nodes,
    else the GPUs of the one hyper-node (then scale-up and scale-out both count).
    ``collapse`` builds each hyper-node plane-collapsed (see :func:`add_hypernode`).
    """
    require_int("hypernodes", hypernodes)
    require_int("dcs", dcs)
    require(hn.nics_per_gpu > 0 or (hypernodes == 1 and dcs == 1),
            f"{hn.name} has no scale-out NICs, so its hyper-nodes cannot be joined")
    g = new_graph("ai_factory")
    infos, dc_gpus, spine_sets, reps = [], [], [], []
    for d in range(dcs):
        gpus_by_node = [add_hypernode(g, hn, prefix=f"d{d}n{n}", collapse=collapse, dc=d,
                                      hypernode=n) for n in range(hypernodes)]
        dc_gpus.append(gpus_by_node)
        if hn.nics_per_gpu == 0:
            continue
        gpt = hn.gpus_per_tray
        # A tray is a server; each GPU brings nics_per_gpu rails of its own.
        trays = [[gpu for gpu in gpus[t * gpt:(t + 1) * gpt] for _ in range(hn.nics_per_gpu)]
                 for gpus in gpus_by_node for t in range(hn.compute_trays)]
        info = add_clos(g, trays, hn.nic.rate_bps, switch, prefix=f"d{d}",
                        servers_per_group=servers_per_group, spines=spines, cable_m=cable_m,
                        dc=d)
        infos.append(info)
        spine_sets.append(info.spines)
        if d == 0:  # a tray of the first and of the last rail group covers every kind of GPU
            reps = sorted(set(trays[0] + trays[-1]))
    all_gpus = [gpu for nodes in dc_gpus for gpus in nodes for gpu in gpus]
    design: dict[str, float] = {}
    if dcs > 1:
        require(all(spine_sets), "spines: each DC needs a spine layer to reach its DCI router")
        router_bps = add_dci_mesh(g, spine_sets, dci, switch, distance_m=distance_m,
                                  dci_links=dci_links, routers=dci_routers, cable_m=cable_m)
        out = dc_outbound_bps(g, infos[0], hn.nic.rate_bps, router_bps)
        design["bisection_bps"] = mesh_bisection_bps(dcs, out,
                                                     dci_routers * dci_links * dci.rate_bps)
        a_hosts = [gpu for nodes in dc_gpus[: dcs // 2] for gpus in nodes for gpu in gpus]
    else:
        nodes = dc_gpus[0]
        if hypernodes > 1:
            a_hosts = [gpu for gpus in nodes[: hypernodes // 2] for gpu in gpus]
            scale_up = 0.0
        else:
            a_hosts = nodes[0][: hn.gpus // 2]
            scale_up = len(a_hosts) * hn.gpu.rate_bps
        scale_out = (two_level_bisection_bps(clos_sides(g, infos[0], a_hosts),
                                             hn.nic.rate_bps, infos[0].uplink_bps)
                     if infos else 0.0)
        # Scale-up and scale-out meet only at the GPUs, so their max flows add.
        design["bisection_bps"] = scale_up + scale_out
    if infos and infos[0].spines:
        leaf = infos[0].leaves[0]
        down = sum(g.nodes[h]["kind"] == "host" for h in g[leaf]) * hn.nic.rate_bps
        design["oversubscription"] = down / infos[0].uplink_bps
    else:
        design["oversubscription"] = 1.0
    g.graph["design"] = design
    g.graph["bisection_a"] = a_hosts
    g.graph["representatives"] = reps or all_gpus[:1]
    g.graph["hardware"] = {"hypernode": hn, "nic": hn.nic, "switch": switch, "dci": dci}
    g.graph["distance_m"] = distance_m  # between DCs: the model's scale-across latency
    check_names(g)
    return g
