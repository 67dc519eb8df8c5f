"""What faults cost a collective: fault-free, then each of a few standard faults (root).

Usage: sudo fabrictwin experiment faults [SCENARIO] [--size 1M] [--at 10us]
                                         [--fault SPEC ...] [--dilation D]
                                         [--json] [--out results/]

Brings the scenario up once (default: the built-in default scenario, two DGX H100
hyper-nodes on a rail-optimized 400G scale-out) and runs its collective at one --size
(default: the scenario's smallest) fault-free, then once with each fault: the first GPU's
scale-out link down, the same link flapping, a spine (else a leaf) failing, 1% loss and
0.5% corruption on that link, the controller killed and restarted (--fault SPEC, in
`fabrictwin run --fault`'s syntax, replaces the list). Each fault strikes --at hardware
time after the start (default: a quarter of the model's time for the case). Prints a
table (time, slowdown against fault-free, retransmissions, reroute times, lost bytes,
pauses, the model's time) and writes faults.json and faults.png (slowdown per fault)
under --out. A fault that stops the collective is a FAILED row with the reason; the
others still run, and the exit status is 1 unless every run completed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fabrictwin.cli.common import library_from_args
from fabrictwin.cli.experiments.common import add_json_out, describe, ready, say
from fabrictwin.cli.run import parse_sizes, pfc_options
from fabrictwin.errors import FabricTwinError
from fabrictwin.model.collectives import canonical_collective
from fabrictwin.runs.fault_costs import (
    check_faults,
    default_at_us,
    measure_faults,
    plot,
    standard_faults,
    table_lines,
)
from fabrictwin.runs.scenario import (
    DEFAULT_SCENARIO,
    load_scenario,
    scenario_policy,
    scenario_topology,
)
from fabrictwin.units import parse_latency_ns, parse_size_bytes


def cmd_faults(args: argparse.Namespace) -> int:
    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    sc = load_scenario(path)
    if not sc.collective:
        raise FabricTwinError(f"{path}: collective: missing (the scenario drives no traffic)")
    g = scenario_topology(sc, path, library_from_args(args))
    collective = canonical_collective(sc.collective)
    size = parse_size_bytes(args.size, "--size") if args.size else parse_sizes(sc.sizes)[0]
    if args.dilation is not None and not 0 < args.dilation < 1e12:
        raise FabricTwinError(f"--dilation: must be positive, got {args.dilation:g}")
    dilation = args.dilation if args.dilation is not None else (sc.dilation or None)
    if args.at is not None:
        at_us = parse_latency_ns(args.at, "--at") / 1e3
        if not at_us > 0:
            raise FabricTwinError(f"--at: must be positive, got {args.at}")
    else:
        at_us = default_at_us(g, collective, sc.algorithm, size)
    labelled = ([(spec, spec) for spec in args.fault] if args.fault
                else standard_faults(g, at_us))
    faults = check_faults(g, labelled)
    policy = scenario_policy(sc, path)
    pfc = pfc_options(sc.pfc)
    ready(args.out)
    doc = measure_faults(g, collective, sc.algorithm, size, faults, args.out / "faults",
                         dilation=dilation, policy=policy, pfc=pfc,
                         progress=lambda m: say("faults", m))
    doc.update(scenario=str(path), at_us=at_us)
    out_json = args.out / "faults.json"
    out_json.write_text(json.dumps(doc, indent=1) + "\n")
    png = plot(doc, args.out / "faults.png")
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print("\n".join(table_lines(doc)))
        print(f"{doc['completed']} of {doc['runs']} runs completed; D {doc['dilation']:.3g}; "
              f"faults at {at_us:g} us; wrote {out_json} and {png}")
    return 0 if doc["ok"] else 1


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("scenario", nargs="?", help="scenario YAML (default: the built-in default)")
    p.add_argument("--size", help="the collective's size (default: the scenario's smallest)")
    p.add_argument("--at", help="hardware time of each fault after the start, e.g. 10us "
                   "(default: a quarter of the model's time)")
    p.add_argument("--fault", action="append", metavar="SPEC",
                   help="a fault to cost instead of the standard ones (repeatable; "
                        "`fabrictwin run --fault` syntax)")
    p.add_argument("--dilation", type=float, help="time dilation D (default: automatic)")
    p.add_argument("--profiles", action="append", metavar="DIR",
                   help="directory of user hardware profiles")
    p.set_defaults(func=cmd_faults)
