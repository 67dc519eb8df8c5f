#!/usr/bin/env python3
"""Controller CPU time on k-ary fat-trees: all routes, every switch's install, one reroute.

Usage: .venv/bin/python benchmarks/controller_routes.py [K ...]   (default: 4 8 16)

``routes_s``: the policy core's construction (shortest-path next hops and ECMP groups
of every switch); ``install_s``: the messages of every switch's first install;
``reroute_s``: an aggregation-core link going down (recompute and diff), with the
number of messages it sends. CPU time of this process (time.process_time).
"""

from __future__ import annotations

import sys
import time

from fabrictwin.controllers.core import PolicyCore
from fabrictwin.topologies.registry import build_topology


def main(ks: list[int]) -> int:
    print(f"{'k':>4} {'switches':>9} {'hosts':>6} {'routes_s':>9} {'install_s':>10} "
          f"{'install_msgs':>12} {'reroute_s':>10} {'reroute_msgs':>12}")
    for k in ks:
        g = build_topology(f"fat_tree,k={k}")
        t0 = time.process_time()
        core = PolicyCore(g)
        t1 = time.process_time()
        install = sum(len(core.switch_up(d, 0.0).messages) for d in core.fabric.dpid.values())
        t2 = time.process_time()
        agg = next(n for n, r in g.nodes(data="role") if r == "agg")
        cor = next(n for n in g[agg] if g.nodes[n]["role"] == "core")
        step = core.port_status(core.fabric.dpid[agg], g.edges[agg, cor]["ports"][agg],
                                False, 1.0)
        t3 = time.process_time()
        print(f"{k:>4} {len(core.fabric.switches):>9} {len(core.fabric.hosts):>6} "
              f"{t1 - t0:>9.3f} {t2 - t1:>10.3f} {install:>12} {t3 - t2:>10.3f} "
              f"{len(step.messages):>12}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main([int(k) for k in sys.argv[1:]] or [4, 8, 16]))
