#!/usr/bin/env python3
"""A reactive learning switch (os-ken app), the baseline of benchmarks/flowinstall.py.

Usage: python benchmarks/reactive_app.py --topo SPEC --port PORT --log FILE.jsonl

Every switch starts with one table-miss rule to the controller. A packet-in teaches
the switch where its source MAC is; a packet to a known MAC installs ``eth_dst ->
port`` and is sent on; one to an unknown MAC is flooded. The fat-tree has loops, so
floods go only along a spanning tree of the topology graph (a BFS tree from the first
switch), and learning then follows that tree too. The hosts have static ARP. Each
switch's connection is logged (``switch_connect``) as the benchmark's start time.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import networkx as nx
import os_ken.base.app_manager as app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from fabrictwin.controllers.decisions import DecisionLog
from fabrictwin.controllers.messages import Decision
from fabrictwin.controllers.routing import Fabric, build_fabric
from fabrictwin.topologies.registry import build_topology

log = logging.getLogger("reactive")
PRIO_LEARNED = 10


@dataclass
class Setup:
    fabric: Fabric
    tree_ports: dict[int, frozenset[int]]  # dpid -> ports on the spanning tree
    log: DecisionLog


def spanning_tree_ports(g: nx.Graph, fabric: Fabric) -> dict[int, frozenset[int]]:
    """Per switch: its host ports and its ports to tree neighbours."""
    sw = g.subgraph(fabric.switches)
    tree = nx.bfs_tree(sw, fabric.switches[0]).to_undirected()
    out = {}
    for s in fabric.switches:
        ports = {p for _, p in fabric.host_links[s]}
        ports |= {p for n, p in fabric.switch_links[s] if tree.has_edge(s, n)}
        out[fabric.dpid[s]] = frozenset(ports)
    return out


def mac_str(raw: bytes) -> str:
    return raw.hex(":")


class ReactiveSwitch(app_manager.OSKenApp):  # type: ignore[misc]
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args: Any, reactive: Setup, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup = reactive
        self.where: dict[int, dict[str, int]] = {}  # dpid -> MAC -> port
        self.lock = threading.Lock()

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev: Any) -> None:
        dp, t0 = ev.msg.datapath, time.time()
        ofp, p = dp.ofproto, dp.ofproto_parser
        with self.lock:
            self.where[dp.id] = {}
        dp.send_msg(p.OFPFlowMod(dp, command=ofp.OFPFC_DELETE, table_id=ofp.OFPTT_ALL,
                                 out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY))
        to_ctl = [p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        dp.send_msg(p.OFPFlowMod(dp, priority=0, match=p.OFPMatch(), instructions=[
            p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, to_ctl)]))
        self.setup.log.write([Decision(t0, "switch_connect", {
            "switch": self.setup.fabric.name_of.get(dp.id, hex(dp.id))})])

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev: Any) -> None:
        msg = ev.msg
        dp, data = msg.datapath, bytes(msg.data)
        ofp, p = dp.ofproto, dp.ofproto_parser
        in_port = msg.match["in_port"]
        tree = self.setup.tree_ports.get(dp.id, frozenset())
        if len(data) < 14 or in_port not in tree:
            return  # off the tree: never forwarded there, so nothing to learn or send
        dst, src = mac_str(data[0:6]), mac_str(data[6:12])
        with self.lock:
            table = self.where.setdefault(dp.id, {})
            if not data[6] & 1:
                table[src] = in_port
            out = table.get(dst)
        if out is not None:
            actions = [p.OFPActionOutput(out)]
            dp.send_msg(p.OFPFlowMod(dp, priority=PRIO_LEARNED, match=p.OFPMatch(eth_dst=dst),
                                     instructions=[p.OFPInstructionActions(
                                         ofp.OFPIT_APPLY_ACTIONS, actions)]))
        else:
            actions = [p.OFPActionOutput(q) for q in sorted(tree - {in_port})]
        dp.send_msg(p.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=in_port,
                                   actions=actions, data=data))


def serve(setup: Setup, port: int) -> None:
    """Run the app on 127.0.0.1:``port`` until killed (as fabrictwin.controllers.app does)."""
    cfg = importlib.import_module("os_ken.cfg")
    importlib.import_module("os_ken.controller.controller")  # registers the ofp options
    cfg.CONF(args=[], project="os_ken", default_config_files=[])
    cfg.CONF.set_override("ofp_listen_host", "127.0.0.1")
    cfg.CONF.set_override("ofp_tcp_listen_port", port)
    mgr = app_manager.AppManager.get_instance()
    mgr.load_apps([__name__])
    services = mgr.instantiate_apps(reactive=setup, **mgr.create_contexts())
    hub.joinall(services)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topo", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    g = build_topology(args.topo)
    fabric = build_fabric(g)
    serve(Setup(fabric, spanning_tree_ports(g, fabric), DecisionLog(args.log)), args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
