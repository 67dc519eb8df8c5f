"""``fabrictwin project``: a collective's time, algbw and busbw on catalogue hardware.

Bad values end with one line naming the option (``fabrictwin: error: --gpus: ...``),
which :func:`fabrictwin.cli.main.main` prints with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from fabrictwin.cli.common import library_from_args
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import HyperNode
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import COLLECTIVES, Prediction, build_system, predict, size_sweep
from fabrictwin.model.collectives import canonical_collective
from fabrictwin.model.system import System
from fabrictwin.units import format_bytes, parse_size_bytes

log = logging.getLogger(__name__)

DEFAULT_OUT = "results/project"
REDUCING = ("all_reduce", "reduce_scatter", "reduce")


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    # Values are checked here rather than by argparse, so every mistake gets one line.
    p.add_argument("--system", metavar="NAME",
                   help="hyper-node profile: dgx-h100, dgx-h200, dgx-a100, dgx-b200, "
                        "gb200-nvl72, or your own")
    p.add_argument("--collective", metavar="NAME", help=", ".join(COLLECTIVES))
    p.add_argument("--gpus", metavar="N", help="GPUs (ranks) in the collective")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", metavar="SIZE", help="bytes per rank buffer: 64M, 1GiB, ...")
    size.add_argument("--sizes", metavar="MIN:MAX",
                      help="sweep sizes doubling from MIN to MAX (nccl-tests -f 2) and plot")
    p.add_argument("--nodes", metavar="M", help="hyper-nodes the GPUs are spread over")
    p.add_argument("--nics-per-node", metavar="K", help="scale-out NICs per node")
    p.add_argument("--nic-gbps", metavar="G", help="NIC line rate, Gb/s per direction")
    p.add_argument("--algo", default="auto",
                   help="auto (what NCCL would pick), ring, tree, nvls, hd, direct, or one "
                        "stage per tier such as nvls/ring")
    p.add_argument("--protocol", default="auto", help="auto, LL, LL128 or Simple")
    p.add_argument("--switch", default="tomahawk5-51t2", metavar="NAME",
                   help="scale-out switch profile (default tomahawk5-51t2)")
    p.add_argument("--dcs", default="1", metavar="D", help="data centres the nodes span")
    # None: not given (they apply with --dcs above 1 only, and say so otherwise)
    p.add_argument("--dci", metavar="NAME", help="DCI link profile (default zr400)")
    p.add_argument("--dci-links", metavar="L", help="DCI links per DC (default 1)")
    p.add_argument("--distance-km", metavar="KM", help="fibre between DCs (default 50)")
    p.add_argument("--floor-us", metavar="US",
                   help="your machine's measured nccl-tests time at its smallest size (8 B): "
                        "back-to-back calls average no faster than the host issues them "
                        "(default: not measured, the device time alone)")
    p.add_argument("--from-run", metavar="RUN",
                   help="a run's results directory (or an incast.json): project what it "
                        "measured onto --nodes of the same hardware")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"where --sizes writes its plot (default {DEFAULT_OUT})")
    p.set_defaults(func=cmd_project)


def _int(value: str | None, option: str, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise FabricTwinError(f"{option}: expected a whole number, got {value!r}") from None
    if number < 1:
        raise FabricTwinError(f"{option}: must be a positive integer, got {number}")
    return number


def _float(value: str | None, option: str, zero_ok: bool = False) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise FabricTwinError(f"{option}: expected a number, got {value!r}") from None
    if not (number >= 0 if zero_ok else number > 0) or number == float("inf"):
        raise FabricTwinError(f"{option}: must be {'non-negative' if zero_ok else 'positive'}, "
                              f"got {value}")
    return number


def _load(lib: ProfileLibrary, name: str, kind: str, option: str) -> Any:
    try:
        return lib.load(name, kind)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{option}: {exc}") from None


def _sizes(args: argparse.Namespace) -> list[int]:
    if args.size is None and args.sizes is None:
        raise FabricTwinError("--size: give --size SIZE or --sizes MIN:MAX")
    if args.size is not None:
        return [parse_size_bytes(args.size, "--size")]
    lo, sep, hi = args.sizes.partition(":")
    if not sep:
        raise FabricTwinError(f"--sizes: expected MIN:MAX, got {args.sizes!r}")
    lo_b, hi_b = parse_size_bytes(lo, "--sizes"), parse_size_bytes(hi, "--sizes")
    if lo_b > hi_b:
        raise FabricTwinError(f"--sizes: {lo} is larger than {hi}")
    return [int(s) for s in size_sweep(lo_b, hi_b)]


def _system(args: argparse.Namespace, lib: ProfileLibrary) -> tuple[System, dict[str, Any]]:
    if not args.system:
        raise FabricTwinError("--system: required (a hyper-node profile, e.g. dgx-h100)")
    hn: HyperNode = _load(lib, args.system, "hypernode", "--system")
    gpus = _int(args.gpus, "--gpus")
    if gpus is None:
        raise FabricTwinError("--gpus: required")
    nodes = _int(args.nodes, "--nodes")
    nics = _int(args.nics_per_node, "--nics-per-node")
    nic_gbps = _float(args.nic_gbps, "--nic-gbps")
    floor_us = _float(args.floor_us, "--floor-us")
    dcs = _int(args.dcs, "--dcs", 1) or 1
    if dcs == 1:
        for option, value in (("--dci", args.dci), ("--dci-links", args.dci_links),
                              ("--distance-km", args.distance_km)):
            if value is not None:
                raise FabricTwinError(f"{option}: applies between data centres; give --dcs "
                                      "above 1")
    if gpus < 2:
        raise FabricTwinError(f"--gpus: a collective needs at least 2 GPUs, got {gpus}")
    args.dci = args.dci or "zr400"
    dci_links = _int(args.dci_links, "--dci-links", 1) or 1
    distance_km = _float(args.distance_km or "50", "--distance-km", zero_ok=True) or 0.0
    if nodes is not None and gpus % nodes:
        raise FabricTwinError(f"--nodes: {nodes} does not divide --gpus {gpus}")
    switch = _load(lib, args.switch, "switch", "--switch")
    dci = _load(lib, args.dci, "dci", "--dci") if dcs > 1 else None
    if dci is not None and distance_km * 1000 > dci.reach_m:
        raise FabricTwinError(f"--distance-km: {distance_km:g} km exceeds the {dci.name} reach "
                              f"of {dci.reach_m / 1000:g} km")
    option = {"gpus": "--gpus", "nodes": "--nodes", "nics_per_node": "--nics-per-node",
              "nic_rate_bps": "--nic-gbps", "dcs": "--dcs", "dci": "--dci", "switch": "--switch"}
    try:
        system = build_system(hn, gpus, nodes=nodes, nics_per_node=nics,
                              nic_rate_bps=None if nic_gbps is None else nic_gbps * 1e9,
                              switch=switch, dcs=dcs, dci=dci, dci_links=dci_links,
                              distance_m=distance_km * 1000,
                              call_floor_s=(floor_us or 0.0) * 1e-6)
    except FabricTwinError as exc:  # name the option, not the model's parameter
        key, _, rest = str(exc).partition(":")
        raise FabricTwinError(f"{option[key]}:{rest}" if key in option
                              else f"--system: {hn.name}: {exc}") from None
    per_node = system.tiers[0].size
    n_nodes = gpus // per_node
    inputs = {"system": hn.name, "collective": args.collective, "gpus": gpus, "nodes": n_nodes,
              "nics_per_node": (nics if nics is not None else per_node * hn.nics_per_gpu)
              if n_nodes > 1 else 0,
              "nic_gbps": (nic_gbps if nic_gbps is not None else hn.nic.rate_bps / 1e9),
              "algo": args.algo, "proto": args.protocol}
    if dcs > 1:
        inputs.update(dcs=dcs, dci=args.dci, dci_links=dci_links, distance_km=distance_km)
    if floor_us is not None:
        inputs["floor_us"] = floor_us
    return system, inputs


def cmd_project(args: argparse.Namespace) -> int:
    lib = library_from_args(args)
    if args.from_run:
        from fabrictwin.cli.from_run import project_from_run
        return project_from_run(args, lib, _system, _sizes)
    if not args.collective:
        raise FabricTwinError(f"--collective: required (one of {', '.join(COLLECTIVES)})")
    try:
        args.collective = canonical_collective(args.collective)
    except FabricTwinError as exc:
        raise FabricTwinError(f"--{exc}") from None
    system, inputs = _system(args, lib)
    sizes = _sizes(args)
    try:
        pred = predict(system, args.collective, sizes, args.algo, args.protocol)
    except FabricTwinError as exc:
        msg = str(exc)
        for key, option in (("algorithm:", "--algo:"), ("protocol:", "--protocol:")):
            if msg.startswith(key):
                msg = option + msg[len(key):]
        raise FabricTwinError(msg) from None
    if args.size is not None:
        result = {**inputs, **pred.row(0)}
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            Console().print(_one_table(result))
        return 0
    plot = _plot(pred, inputs, Path(args.out))
    if args.json:
        print(json.dumps({**inputs, "results": [pred.row(i) for i in range(len(sizes))],
                          "plot": str(plot)}, indent=2))
    else:
        console = Console()
        console.width = max(console.width, 110)  # nccl-tests' columns need the room
        console.print(_sweep_table(pred, inputs))
        console.print(f"wrote {plot}")
    return 0


def _title(inputs: dict[str, Any]) -> str:
    where = f"{inputs['nodes']} node{'s' if inputs['nodes'] > 1 else ''}"
    if inputs.get("dcs"):
        where += f" in {inputs['dcs']} DCs"
    return f"{inputs['collective']} on {inputs['gpus']} GPUs of {inputs['system']} ({where})"


def _one_table(result: dict[str, Any]) -> Table:
    t = Table(title=_title(result), show_header=False)
    t.add_column("figure", style="bold")
    t.add_column("value")
    t.add_row("size", f"{result['size_bytes']} B ({format_bytes(result['size_bytes'])})")
    t.add_row("time", f"{result['time_us']:.2f} us")
    t.add_row("algbw", f"{result['algbw_GBps']:.2f} GB/s")
    t.add_row("busbw", f"{result['busbw_GBps']:.2f} GB/s")
    t.add_row("algorithm", f"{result['algorithm']} / {result['protocol']}")
    if result["bottleneck"]:
        t.add_row("bottleneck tier", result["bottleneck"])
    if result["nodes"] > 1:
        t.add_row("scale-out", f"{result['nics_per_node']} x {result['nic_gbps']:g} Gb/s NICs "
                  "per node")
    return t


def _sweep_table(pred: Prediction, inputs: dict[str, Any]) -> Table:
    """nccl-tests' columns: size, count, type, redop, time, algbw, busbw (and the algorithm)."""
    t = Table(title=_title(inputs), box=box.SIMPLE_HEAD)
    for col in ("size (B)", "count", "type", "redop", "time (us)", "algbw (GB/s)",
                "busbw (GB/s)"):
        t.add_column(col, justify="right")
    t.add_column("algorithm")
    redop = "sum" if inputs["collective"] in REDUCING else "none"
    for i in range(len(pred.size_bytes)):
        r = pred.row(i)
        t.add_row(str(r["size_bytes"]), str(r["size_bytes"] // 4), "float", redop,
                  f"{r['time_us']:.2f}", f"{r['algbw_GBps']:.2f}", f"{r['busbw_GBps']:.2f}",
                  f"{r['algorithm']}/{r['protocol']}"
                  + (" (host floor)" if r["bottleneck"] == "host call floor" else ""))
    return t


def _plot(pred: Prediction, inputs: dict[str, Any], out: Path) -> Path:
    """busbw against size, log2 sizes, as nccl-tests users plot it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FabricTwinError(f"--out: cannot create {out}: {exc.strerror}") from None
    path = out / f"{inputs['system']}-{inputs['collective']}-{inputs['gpus']}gpus.png"
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(pred.size_bytes, pred.busbw_GBps, marker="o", markersize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(_title(inputs), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
