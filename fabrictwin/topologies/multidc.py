"""Scale-across: data centres joined by long-haul DCI links whose latency comes from distance."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from fabrictwin.hardware.catalogue import FIBRE_NS_PER_M, NIC, DCILink, SwitchChip
from fabrictwin.topologies.clos import ClosInfo, add_clos
from fabrictwin.topologies.graph import (
    add_host,
    add_link,
    add_switch,
    check_names,
    new_graph,
    require,
    require_int,
)


def add_dci_mesh(g: nx.Graph, dc_spines: Sequence[Sequence[str]], dci: DCILink,
                 router: SwitchChip, *, distance_m: float, dci_links: int = 1,
                 routers: int = 1, cable_m: float = 10.0) -> float:
    """Give each DC ``routers`` DCI routers joined to all its spines, and mesh the DCs.

    Router ``i`` of every DC (``d{d}x``, or ``d{d}x{i}`` with several) reaches router
    ``i`` of every other DC over ``dci_links`` bundled DCI links, ``distance_m`` away
    (latency ``dci.latency_ns(distance_m)``): several routers give the spines equal-cost
    paths across, spread by ECMP, as DCs join over several DCI paths for capacity and
    resilience. Returns a DC's spine-to-router capacity.
    """
    require_int("dci_links", dci_links)
    require_int("dci_routers", routers)
    dcs = len(dc_spines)
    lat = dci.latency_ns(distance_m)
    require(dci.rate_bps <= router.port_rate_bps,
            f"{dci.name} rate exceeds the {router.name} port rate")
    need = len(dc_spines[0]) + (dcs - 1) * dci_links
    require(need <= router.radix, f"a DCI router needs {need} ports, {router.name} radix is "
            f"{router.radix}")
    names = ["x"] if routers == 1 else [f"x{i}" for i in range(routers)]
    by_dc = [[add_switch(g, f"d{d}{x}", "dci", "scale-across", radix=router.radix,
                         latency_ns=router.latency_ns, buffer_bytes=router.buffer_bytes, dc=d)
              for x in names] for d in range(dcs)]
    for d, spines in enumerate(dc_spines):
        for s in spines:
            for r in by_dc[d]:
                add_link(g, s, r, tier="scale-out", rate_bps=router.port_rate_bps,
                         latency_ns=cable_m * FIBRE_NS_PER_M)
    for a in range(dcs):
        for b in range(a + 1, dcs):
            for ra, rb in zip(by_dc[a], by_dc[b], strict=True):
                add_link(g, ra, rb, tier="scale-across", rate_bps=dci_links * dci.rate_bps,
                         latency_ns=lat, links=dci_links, distance_m=float(distance_m))
    g.graph["dci_links"] = routers * dci_links  # between each pair of DCs, for the model
    return len(dc_spines[0]) * routers * router.port_rate_bps


def dc_outbound_bps(g: nx.Graph, info: ClosInfo, host_rate_bps: float,
                    router_bps: float) -> float:
    """Most a DC can send out: its hosts, its leaves' uplinks, its spines' router links."""
    per_leaf = sum(min(sum(g.nodes[h]["kind"] == "host" for h in g[leaf]) * host_rate_bps,
                       info.uplink_bps) for leaf in info.leaves)
    return min(per_leaf, router_bps)


def mesh_bisection_bps(dcs: int, outbound_bps: float, dci_bps: float) -> float:
    """Bisection of ``dcs`` identical DCs in a full DCI mesh, split floor(D/2) : rest."""
    a, b = dcs // 2, dcs - dcs // 2
    return min(a * outbound_bps, a * b * dci_bps, b * outbound_bps)


def multi_dc(dcs: int, leaves: int, spines: int, hosts_per_leaf: int, nic: NIC,
             switch: SwitchChip, dci: DCILink, *, distance_m: float, dci_links: int = 1,
             dci_routers: int = 1, cable_m: float = 10.0) -> nx.Graph:
    """``dcs`` leaf-spine data centres, each with a DCI router, joined in a full mesh.

    DC ``d`` has hosts ``d{d}h{i}``, leaves ``d{d}l{j}``, spines ``d{d}s{j}`` and router
    ``d{d}x``. The bisection splits the DCs floor(D/2) : rest.
    """
    require_int("dcs", dcs, 2)
    require_int("leaves", leaves)
    require_int("hosts_per_leaf", hosts_per_leaf)
    g = new_graph("multi_dc")
    spine_sets, infos, dc_hosts = [], [], []
    for d in range(dcs):
        hosts = [add_host(g, f"d{d}h{i}", "host", "scale-out", dc=d, index=i)
                 for i in range(leaves * hosts_per_leaf)]
        info = add_clos(g, [[h] for h in hosts], nic.rate_bps, switch, prefix=f"d{d}",
                        servers_per_group=hosts_per_leaf, spines=spines, cable_m=cable_m,
                        dc=d)
        require(bool(info.spines), "spines: a DC needs at least one spine to reach its router")
        spine_sets.append(info.spines)
        infos.append(info)
        dc_hosts.append(hosts)
    router_bps = add_dci_mesh(g, spine_sets, dci, switch, distance_m=distance_m,
                              dci_links=dci_links, routers=dci_routers, cable_m=cable_m)
    out = dc_outbound_bps(g, infos[0], nic.rate_bps, router_bps)
    g.graph["design"] = {
        "bisection_bps": mesh_bisection_bps(dcs, out, dci_routers * dci_links * dci.rate_bps),
        "oversubscription": hosts_per_leaf * nic.rate_bps / infos[0].uplink_bps,
    }
    g.graph["bisection_a"] = [h for hosts in dc_hosts[: dcs // 2] for h in hosts]
    g.graph["representatives"] = [dc_hosts[0][0]]
    g.graph["hardware"] = {"nic": nic, "switch": switch, "dci": dci}
    g.graph["distance_m"] = float(distance_m)
    check_names(g)
    return g
