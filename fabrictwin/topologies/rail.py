"""Rail-optimized scale-out: GPU ``i`` of every server attaches to rail leaf ``i``.

The layout of NVIDIA's DGX SuperPOD reference architectures: servers form
scalable units (groups) of up to radix/2 servers; each rail of a group has its
own leaf, and a spine layer joins all leaves so traffic can also cross rails.
"""

from __future__ import annotations

import networkx as nx

from fabrictwin.hardware.catalogue import NIC, SwitchChip
from fabrictwin.topologies.clos import add_clos, clos_sides, two_level_bisection_bps
from fabrictwin.topologies.graph import add_host, check_names, new_graph, require_int


def rail_optimized(servers: int, gpus_per_server: int, nic: NIC, switch: SwitchChip, *,
                   servers_per_group: int | None = None, spines: int | None = None,
                   cable_m: float = 10.0) -> nx.Graph:
    """``servers`` x ``gpus_per_server`` GPU hosts ``n{s}g{i}`` on rail leaves ``l{group}r{i}``.

    One NIC of ``nic.rate_bps`` per GPU. Defaults follow :func:`add_clos`: groups of
    radix/2 servers, 1:1 uplinks. The bisection splits the servers in half.
    """
    require_int("servers", servers)
    require_int("gpus_per_server", gpus_per_server)
    g = new_graph("rail_optimized")
    hosts = [[add_host(g, f"n{s}g{i}", "gpu", "scale-out", server=s, gpu=i, rail=i)
              for i in range(gpus_per_server)] for s in range(servers)]
    info = add_clos(g, hosts, nic.rate_bps, switch, servers_per_group=servers_per_group,
                    spines=spines, cable_m=cable_m)
    flat = [h for server in hosts for h in server]
    a_hosts = ([h for server in hosts[: servers // 2] for h in server] if servers > 1
               else flat[: gpus_per_server // 2])
    spg = len([h for h in g[info.leaves[0]] if g.nodes[h]["kind"] == "host"])
    g.graph["design"] = {
        "bisection_bps": two_level_bisection_bps(clos_sides(g, info, a_hosts), nic.rate_bps,
                                                 info.uplink_bps),
        "oversubscription": spg * nic.rate_bps / info.uplink_bps if info.spines else 1.0,
    }
    g.graph["bisection_a"] = a_hosts
    # One server of the first and of the last group covers every kind of host.
    g.graph["representatives"] = hosts[0] + hosts[-1]
    g.graph["hardware"] = {"nic": nic, "switch": switch}
    check_names(g)
    return g
