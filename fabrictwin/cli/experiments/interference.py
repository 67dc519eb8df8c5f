"""A training all-reduce and PD KV transfers on one fabric, alone and together (root).

Usage: sudo fabrictwin experiment interference [--dp-size 8M] [--kv-bytes 2M]
                                               [--requests 4] [--cc dcqcn|dcqcn-rtt]
                                               [--json] [--out results/]

Brings up eight single-GPU DGX H100 slices on a 2:1 oversubscribed rail-optimized 400G
scale-out (four per leaf, one spine). The data-parallel ring all-reduce (--dp-size) runs
on nodes 0, 1, 4, 5; the KV caches of --requests prefills (--kv-bytes each) go from
nodes 2, 3 to 6, 7; both cross the spine. PFC on, senders run --cc, ECN marked by the
controller. Each job runs alone, then both at once; prints each one's time (hardware)
and slowdown, and writes interference.json under --out, which
`fabrictwin twin WORKLOAD --interference results/interference.json` applies.
"""

from __future__ import annotations

import argparse
import json

from fabrictwin.cli.experiments.common import add_json_out, describe, ready, say
from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.interference import measure
from fabrictwin.traffic.dcqcn import CC_VARIANTS
from fabrictwin.units import parse_size_bytes


def cmd_interference(args: argparse.Namespace) -> int:
    dp = parse_size_bytes(args.dp_size, "--dp-size")
    kv = parse_size_bytes(args.kv_bytes, "--kv-bytes")
    if not 0 < args.requests <= 64:
        raise FabricTwinError(f"--requests: expected 1 to 64, got {args.requests}")
    if args.dilation is not None and not 0 < args.dilation < 1e12:
        raise FabricTwinError(f"--dilation: must be positive, got {args.dilation:g}")
    if not dp or not kv:
        raise FabricTwinError("--dp-size and --kv-bytes: must be positive")
    ready(args.out)
    doc = measure(dp, kv, args.requests, args.out / "interference",
                  cc=args.cc, dilation=args.dilation,
                  progress=lambda m: say("interference", m))
    path = args.out / "interference.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"{'job':<12} {'alone us':>10} {'together us':>12} {'slowdown':>9}")
        for key, alone in (("dp", "dp alone"), ("kv_transfer", "kv alone")):
            a = doc["runs"].get(alone, {}).get(f"{key}_us")
            t = doc["runs"].get("together", {}).get(f"{key}_us")
            s = doc["slowdown"][key]
            print(f"{key:<12} {a or float('nan'):>10.1f} {t or float('nan'):>12.1f} "
                  f"{s or float('nan'):>9.2f}")
        both = doc["runs"].get("together", {})
        print(f"together: {both.get('pfc_pauses')} pauses obeyed, {both.get('cnps')} CNPs, "
              f"{both.get('retransmits')} retransmissions, {both.get('lost_bytes')} B lost; "
              f"switch drops {doc['pfc']}; D {doc['dilation']:.3g}; wrote {path}")
        for label, run in doc["runs"].items():
            if run.get("cpu_bound"):
                print(f"{label}: cpu_bound, {run['cpu_limit']}: a larger --dilation gives it "
                      "more time")
    return 0 if doc["ok"] else 1


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("--dp-size", default="8M", help="the gradient all-reduce (default 8M)")
    p.add_argument("--kv-bytes", default="2M", help="KV cache per request (default 2M)")
    p.add_argument("--requests", type=int, default=4, help="prefills whose KV moves (default 4)")
    p.add_argument("--cc", default="dcqcn", choices=list(CC_VARIANTS))
    p.add_argument("--dilation", type=float, help="time dilation D (default: automatic)")
    p.set_defaults(func=cmd_interference)
