"""A `mn --custom` file: the same fat-tree, built by stock Mininet, for benchmarks/bringup.py.

    python /usr/bin/mn --custom benchmarks/stock_topo.py --topo ft,8 \
        --switch ovs,datapath=user --controller none --mac --arp --test reach

Stock Mininet builds the topology its own way (one command per step); `reach`
then loads the same forwarding rules fabrictwin would and runs the same
all-pairs fping check, so "up" means the same thing on both sides.
"""

from __future__ import annotations

import sys
import time

from mininet.topo import Topo

from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.hardware.addressing import switch_dpid
from fabrictwin.topologies.registry import build_topology


class GraphTopo(Topo):
    """A fabrictwin topology graph as a Mininet Topo: same names, DPIDs and port numbers."""

    def build(self, k: int = 8) -> None:  # noqa: D102
        g = build_topology(f"fat_tree,k={k}")
        self.graph = g
        for j, (n, kind) in enumerate((n, k) for n, k in g.nodes(data="kind") if k == "switch"):
            assert kind == "switch"
            self.addSwitch(n, dpid=switch_dpid(j))
        for n, kind in g.nodes(data="kind"):
            if kind == "host":
                self.addHost(n)
        for u, v, d in g.edges(data=True):
            self.addLink(u, v, port1=d["ports"][u], port2=d["ports"][v])


def reach(net) -> None:  # noqa: ANN001 - Mininet's test hook signature
    """Load fabrictwin's forwarding rules (with stock's MACs) and check all pairs."""
    import subprocess

    t0 = time.perf_counter()
    g = net.topo.graph
    plan = plan_emulation(g, 1.0)
    planned_mac = {h.name: h.mac for h in plan.hosts}
    real_mac = {h.name: h.MAC() for h in net.hosts}
    swap = {planned_mac[n]: real_mac[n] for n in planned_mac}
    procs = []
    for sw in plan.switches:
        flows = []
        for f in sw.flows:
            mac = f.split("dl_dst=")[1].split(",")[0]
            flows.append(f.replace(mac, swap[mac]))
        procs.append(subprocess.Popen(["ovs-ofctl", "-O", "OpenFlow13", "add-flows", sw.name,
                                       "-"], stdin=subprocess.PIPE, text=True))
        procs[-1].communicate("\n".join(flows) + "\n")
    ips = [h.IP() for h in net.hosts]
    for h in net.hosts:
        h.sendCmd("fping -a -r 4 -i 2 -t 1000 " + " ".join(ip for ip in ips if ip != h.IP())
                  + " 2>/dev/null; true")
    failed = 0
    for h in net.hosts:
        answered = set(h.waitOutput().split())
        failed += sum(ip not in answered for ip in ips if ip != h.IP())
    n = len(ips)
    print(f"reach: pairs={n * (n - 1)} failed={failed} time_s={time.perf_counter() - t0:.2f} "
          f"at={time.time():.3f}", file=sys.stderr)


topos = {"ft": GraphTopo}
tests = {"reach": reach}
