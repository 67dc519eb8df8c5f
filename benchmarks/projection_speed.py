"""How fast the projection model answers at AI-factory scale (figures, not a timed test).

1. One collective projected on a 100,000-GPU AI factory: 12,500 DGX H100 hyper-nodes
   (scale-up), a rail-optimized 400G scale-out in each of 4 DCs, 800ZR scale-across.
2. Max-min fair rates of 10,000 ECMP-routed flows on a k=32 fat-tree (8,192 hosts).

    .venv/bin/python benchmarks/projection_speed.py
"""

from __future__ import annotations

import random
import time

import numpy as np

from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import build_system, predict, size_sweep
from fabrictwin.model.flows import allocate
from fabrictwin.topologies.registry import build_topology


def factory_projection(lib: ProfileLibrary) -> None:
    hn, switch, dci = lib.load("dgx-h100"), lib.load("tomahawk5-51t2"), lib.load("zr800")
    t0 = time.perf_counter()
    system = build_system(hn, 100_000, nodes=12_500, switch=switch, dcs=4, dci=dci,
                          dci_links=16, distance_m=50_000)
    pred = predict(system, "all_reduce", [1 << 30])
    one_s = time.perf_counter() - t0
    sizes = size_sweep(8, 8 << 30)
    t0 = time.perf_counter()
    sweep = predict(system, "all_reduce", sizes)
    sweep_s = time.perf_counter() - t0
    tiers = ", ".join(f"{t.name} x{t.size}" for t in system.tiers)
    print(f"AI factory: {system.ranks} GPUs ({tiers})")
    r = pred.row(0)
    print(f"  all_reduce 1 GiB: {r['time_us'] / 1e3:.2f} ms, busbw {r['busbw_GBps']:.1f} GB/s, "
          f"{r['algorithm']}/{r['protocol']}, bottleneck {r['bottleneck']}")
    print(f"  projection_one_s={one_s:.4f}  (build the system + project one collective)")
    print(f"  projection_sweep_s={sweep_s:.4f}  ({len(sizes)} sizes, 8 B to 8 GiB)")
    print(f"  sweep busbw at 8 GiB: {sweep.busbw_GBps[-1]:.1f} GB/s")


def flow_model(lib: ProfileLibrary, flows: int = 10_000, seed: int = 1) -> None:
    t0 = time.perf_counter()
    g = build_topology("fat_tree,k=32", lib)
    build_s = time.perf_counter() - t0
    hosts = [n for n, kind in g.nodes(data="kind") if kind == "host"]
    rng = random.Random(seed)
    pairs = [tuple(rng.sample(hosts, 2)) for _ in range(flows)]
    t0 = time.perf_counter()
    alloc = allocate(g, pairs, seed=seed)
    flow_s = time.perf_counter() - t0
    rates = alloc.rate_bps / 1e9
    util = alloc.utilisation()
    print(f"fat_tree,k=32: {len(hosts)} hosts, {g.number_of_edges()} links "
          f"(built in {build_s:.2f} s)")
    print(f"  {flows} random flows: rate min/median/max {rates.min():.1f}/"
          f"{np.median(rates):.1f}/{rates.max():.1f} Gb/s, "
          f"{int(np.sum(util > 1 - 1e-9))} links saturated")
    print(f"  flow_model_s={flow_s:.3f}  (ECMP paths + max-min fair rates)")


def main() -> int:
    lib = ProfileLibrary()
    factory_projection(lib)
    flow_model(lib)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
