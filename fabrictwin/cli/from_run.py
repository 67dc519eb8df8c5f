"""``fabrictwin project --from-run RUN``: a measured run projected onto a larger factory.

RUN is a ``fabrictwin run`` results directory (``results.json``; a directory holding
run directories takes the newest) or an incast experiment's ``incast.json`` (or the
directory holding it). The run's bottleneck tier efficiency, as measured
(:mod:`fabrictwin.model.calibrated`), replaces the ideal one in a system of the same
hardware at ``--nodes``; everything else is the model's, and the output says which
figures are which.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import predict
from fabrictwin.model.algorithm import chosen
from fabrictwin.model.calibrated import (
    Measurement,
    calibrate,
    collective_measurement,
    incast_measurement,
)
from fabrictwin.model.emulated import model_algorithm, system_of
from fabrictwin.topologies.graph import hosts
from fabrictwin.topologies.registry import build_topology


def find_document(path: Path) -> tuple[str, Any]:
    """("run", results.json) or ("incast", incast.json) read from ``path``."""
    if not path.exists():
        raise FabricTwinError(f"--from-run: {path} does not exist")
    candidates = [path] if path.is_file() else [path / "results.json", path / "incast.json"]
    if path.is_dir() and not any(c.exists() for c in candidates):
        runs = sorted(path.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
        candidates = runs[-1:]
    for c in candidates:
        if c.exists():
            try:
                doc = json.loads(c.read_text())
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise FabricTwinError(f"--from-run: cannot read {c}: {exc}") from None
            if isinstance(doc, dict) and "results" in doc and "spec" in doc:
                return "run", doc
            if isinstance(doc, list) and doc and all(isinstance(r, dict) and "completion_us"
                                                     in r for r in doc):
                return "incast", doc
            raise FabricTwinError(f"--from-run: {c} is neither a run's results.json nor an "
                                  "incast experiment's incast.json")
    raise FabricTwinError(f"--from-run: no results.json or incast.json in {path}")


def _run_measurement(doc: dict[str, Any], lib: ProfileLibrary) -> tuple[Measurement, Any]:
    """The measurement of a collective run, and the hyper-node profile it ran on."""
    g = build_topology(doc["spec"], lib)
    small = system_of(g, hosts(g))
    if small is None:
        raise FabricTwinError(f"--from-run: {doc['spec']} has no hyper-node profile, so the "
                              "model has no figure to compare the run with")
    rows = doc["results"]
    algo = model_algorithm(doc["algorithm"], small)
    sizes = [r["size_bytes"] for r in rows]
    latency_us = [float(c.latency_at(size)) * 1e6
                  for c, size in zip(chosen(small, doc["collective"], algo, sizes), sizes,
                                     strict=True)]
    bottleneck = predict(small, doc["collective"], [max(sizes)], algo).bottleneck[0]
    return collective_measurement(doc, str(bottleneck), latency_us), \
        g.graph["hardware"]["hypernode"]


def project_from_run(args: argparse.Namespace, lib: ProfileLibrary,
                     system_for: Any, sizes_for: Any) -> int:
    """The command: ``system_for(args, lib)`` and ``sizes_for(args)`` are project's own
    option readers, so the options mean the same with and without --from-run."""
    kind, doc = find_document(Path(args.from_run))
    if kind == "run":
        measurements = [_run_measurement(doc, lib)]
        hn = measurements[0][1]
        args.system = args.system or hn.name
        args.collective = args.collective or doc["collective"]
        if args.size is None and args.sizes is None:
            args.size = str(max(r["size_bytes"] for r in doc["results"]))
    else:
        if not args.system or not args.collective:
            raise FabricTwinError("--system: an incast run has no GPUs; give --system and "
                                  "--collective to project it onto")
        measurements = []
        for run in doc:
            g = build_topology(run["topology"], lib)
            line = max(d["rate_bps"] for _, _, d in g.edges(run["receiver"], data=True))
            hn = lib.load(args.system, "hypernode")
            measurements.append((incast_measurement(run, line, hn.nic.mtu_bytes), hn))
    if args.gpus is None:
        if args.nodes is None:
            raise FabricTwinError("--nodes: required with --from-run (the factory's size)")
        args.gpus = str(int(args.nodes) * measurements[0][1].gpus) \
            if args.nodes.isdigit() else args.nodes
    system, inputs = system_for(args, lib)
    sizes = sizes_for(args)
    ideal = predict(system, args.collective, sizes, args.algo, args.protocol)
    rows = []
    for m, _ in measurements:
        taught = predict(calibrate(system, [m]), args.collective, sizes, args.algo,
                         args.protocol)
        for i, size in enumerate(sizes):
            rows.append({"size_bytes": int(size), "measurement": m.source,
                         "model_time_us": float(ideal.time_s[i] * 1e6),
                         "model_busbw_GBps": float(ideal.busbw_GBps[i]),
                         "projected_time_us": float(taught.time_s[i] * 1e6),
                         "projected_busbw_GBps": float(taught.busbw_GBps[i]),
                         "slowdown": float(taught.time_s[i] / ideal.time_s[i]),
                         "bottleneck": str(taught.bottleneck[i])})
    out = {**inputs, "from_run": str(args.from_run),
           "measured": [{"tier": m.tier, "efficiency": m.efficiency, "applied": m.applied,
                         "note": m.note, "source": m.source, "evidence": dict(m.evidence)}
                        for m, _ in measurements],
           "from_model": "every other tier's rates, all latencies and the launch cost",
           "results": rows}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    console = Console()
    console.width = max(console.width, 110)
    t = Table(title=f"{inputs['collective']} on {inputs['gpus']} GPUs of {inputs['system']} "
              f"({inputs['nodes']} nodes): ideal model vs taught by the run",
              box=box.SIMPLE_HEAD)
    for col in ("size (B)", "model time (us)", "model busbw", "projected time (us)",
                "projected busbw", "slowdown", "bottleneck"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["size_bytes"]), f"{r['model_time_us']:.2f}",
                  f"{r['model_busbw_GBps']:.2f}", f"{r['projected_time_us']:.2f}",
                  f"{r['projected_busbw_GBps']:.2f}", f"{r['slowdown']:.2f}", r["bottleneck"])
    console.print(t)
    for m, _ in measurements:
        ev = ", ".join(f"{k} {v}" for k, v in m.evidence.items())
        console.print(f"measured: {m.note}, from {m.source}; {ev}", soft_wrap=True)
    console.print(f"model: {out['from_model']}")
    return 0
