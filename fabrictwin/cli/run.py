"""``fabrictwin run``: a collective over the emulated fabric, reported like nccl-tests."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fabrictwin.cli.common import library_from_args
from fabrictwin.cli.emulate import cluster_from_args, summary_table
from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.fabric.pfc.setup import DCI_TIER, PfcOptions
from fabrictwin.fabric.pfc.timeline import window
from fabrictwin.model.collectives import canonical_collective
from fabrictwin.runs.collective import run_sizes
from fabrictwin.runs.faults import Fault, parse_faults
from fabrictwin.runs.outputs import (
    failures,
    fault_line,
    model_notes,
    nccl_table,
    write_outputs,
)
from fabrictwin.runs.scenario import (
    PfcSettings,
    load_scenario,
    scenario_faults,
    scenario_policy,
    scenario_topology,
)
from fabrictwin.runs.schedules import resolve_algorithm, traffic_of
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.dcqcn import CC_VARIANTS
from fabrictwin.units import parse_size_bytes


def parse_sizes(text: str) -> list[int]:
    """``1M`` or ``1M:64M`` (doubling, as nccl-tests -f 2)."""
    lo_text, sep, hi_text = text.partition(":")
    lo = parse_size_bytes(lo_text, "--sizes")
    hi = parse_size_bytes(hi_text, "--sizes") if sep else lo
    if hi < lo:
        raise FabricTwinError(f"--sizes: {hi_text} is smaller than {lo_text}")
    sizes = [lo]
    while sizes[-1] * 2 <= hi:
        sizes.append(sizes[-1] * 2)
    return sizes


def _inputs(args: argparse.Namespace,
            ) -> tuple[Any, str, str, list[int], float | None, str, Path | None,
                       PfcSettings | None, list[Fault]]:
    lib = library_from_args(args)
    if args.scenario:
        path = Path(args.scenario)
        sc = load_scenario(path)
        if not sc.collective and not args.collective:
            raise FabricTwinError(f"{path}: collective: missing (the scenario drives no traffic)")
        g = scenario_topology(sc, path, lib)
        collective = args.collective or sc.collective
        sizes_text = args.sizes or sc.sizes
        algo = args.algo or sc.algorithm
        dilation = args.dilation if args.dilation is not None else (sc.dilation or None)
        name = sc.name
        policy = scenario_policy(sc, path)
        pfc = sc.pfc or (PfcSettings() if args.pfc else None)
        # --fault replaces the scenario's faults
        faults = None if args.fault else scenario_faults(sc, path, g,
                                                         controller=not args.static)
    else:
        if not args.topo or not args.collective:
            raise FabricTwinError("give a scenario file, or --collective and --topo")
        g = build_topology(args.topo, lib)
        collective, sizes_text, algo = args.collective, args.sizes or "1M:4M", args.algo or "auto"
        dilation, name, policy = args.dilation, args.collective, None
        pfc = PfcSettings() if args.pfc else None
        faults = None
    if faults is None:
        faults = parse_faults(args.fault or (), g, controller=not args.static)
    try:
        collective = canonical_collective(collective)
    except FabricTwinError as exc:
        raise FabricTwinError(f"--{exc}") from None
    if dilation is not None and not dilation > 0:
        raise FabricTwinError(f"--dilation must be positive, got {dilation:g}")
    return g, collective, algo, parse_sizes(sizes_text), dilation, name, policy, pfc, faults


def pfc_options(pfc: PfcSettings | None, *, dci_lossy: bool = False) -> Any:
    """The scenario's PFC settings as the emulation's options (None: PFC off)."""
    if pfc is None:
        if dci_lossy:
            raise FabricTwinError("--dci-lossy: applies to a lossless fabric; add --pfc")
        return None

    wd = pfc.watchdog
    return PfcOptions(buffer_bytes=pfc.buffer, alpha=pfc.alpha, watchdog_hw=None if wd is None
                      else Watchdog(wd.detect_us * 1e3, wd.restore_us * 1e3, wd.action),
                      lossy_tiers=(DCI_TIER,) if dci_lossy or pfc.dci_lossy else ())


def congestion_control(args: argparse.Namespace) -> str | None:
    """``--cc NAME``, or ``--dcqcn`` for the paper's DCQCN; None: none."""
    if args.cc and args.dcqcn and args.cc != "dcqcn":
        raise FabricTwinError(f"--dcqcn and --cc {args.cc}: give one congestion control")
    return args.cc or ("dcqcn" if args.dcqcn else None)


def cmd_run(args: argparse.Namespace) -> int:
    g, collective, algo, sizes, dilation, name, policy, pfc, faults = _inputs(args)
    congestion_control(args)  # bad input first
    pfc_opts = pfc_options(pfc, dci_lossy=args.dci_lossy)
    cluster = cluster_from_args(g, args.servers, args.ssh_config)
    if cluster is not None and faults:
        raise FabricTwinError("--fault: not available with --servers yet")
    ranks = sum(1 for _, k in g.nodes(data="kind") if k == "host")
    # D from the load the routed schedule puts on each link (the largest size: all its
    # chunks move, none empty); building it refuses a bad algorithm or layout now

    traffic = traffic_of(g, collective, resolve_algorithm(collective, algo), sizes[-1])
    stamp = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out_dir = Path(args.out) / stamp
    err = Console(stderr=True)
    doc: dict[str, Any] = {}

    def inside(emu: Any) -> None:
        nonlocal out_dir
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            out_dir.mkdir()
        except FileExistsError:  # the same scenario, started in the same second
            out_dir = out_dir.with_name(f"{stamp}-{os.getpid()}")
            out_dir.mkdir()
        pcap = out_dir / "sample.pcap"
        first = emu.plan.hosts[0]
        cap = emu.net.nameToNode[first.name].popen(
            ["tcpdump", "-i", first.intfs[0], "-c", "200", "-w", str(pcap), "udp port 4791"])
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.completed}/{task.total} sizes"), TimeElapsedColumn(),
                console=err, transient=True) as bar:
            task = bar.add_task(f"{collective} on {ranks} ranks", total=len(sizes))
            doc["results"] = run_sizes(emu, g, collective, algo, sizes, out_dir / "agents",
                                       cc=congestion_control(args), faults=faults,
                                       endpoint=not args.wire_only,
                                       on_row=lambda _r: bar.advance(task))
        cap.terminate()
        cap.wait(timeout=5)

    with err.status("bringing the fabric up"):
        summary = emulate(g, dilation, controller=not args.static, traffic=traffic, policy=policy,
                          profiles=getattr(args, "profiles", None), inside=inside,
                          pfc=pfc_opts, progress=lambda m: None, cluster=cluster)
    pfc_doc = summary.pop("pfc", None)  # the document's own block, not the emulation's
    if pfc_doc:  # one daemon served every size: each row gets its window
        for r in doc.get("results", []):
            r.update(window(pfc_doc["timeline"], r["started_ns"], r["finished_ns"]))
    doc = {"spec": g.graph.get("spec"), "collective": collective, "algorithm": algo,
           "ranks": ranks, "dilation": summary["dilation"],
           # untrustworthy when a core saturated while data moved (bring-up excluded)
           "cpu_bound": any(r.get("cpu_bound") for r in doc.get("results", [])),
           "forwarding": summary.get("forwarding"), "emulation": summary,
           "results": doc.get("results", []), "pfc": pfc_doc}
    written = write_outputs(out_dir, doc)
    if args.json:
        rows = [{k: v for k, v in r.items() if k != "fct_us"} for r in doc["results"]]
        pfc = doc["pfc"] and {k: v for k, v in doc["pfc"].items() if k != "timeline"}
        print(json.dumps({**doc, "results": rows, "pfc": pfc}, indent=2))
    else:
        console = Console()
        console.print(summary_table(summary))
        console.print(nccl_table(collective, ranks, doc["results"]))
        for line in failures(doc["results"]):
            console.print(f"[red]{line}[/red]")
        for line in model_notes(doc["results"]):
            console.print(line)
        if doc["pfc"]:
            pf = doc["pfc"]
            console.print(f"PFC: {pf['pauses']} pauses, {pf['pause_frames_sent']} PAUSE frames, "
                          f"{pf['lossless_drops']} lossless drops in the switches")
        for r in doc["results"]:
            if r.get("faults"):
                console.print(fault_line(r), highlight=False)
            if r.get("cpu_limit"):  # say which resource set the limit, and the way out
                console.print(f"[yellow]{r['size_bytes']} B: cpu_bound, {r['cpu_limit']}; "
                              "a larger --dilation gives it more time[/yellow]")
        console.print(f"dilation {doc['dilation']:.4g}, cpu_bound {doc['cpu_bound']}; wrote "
                      + ", ".join(str(p) for p in written))
    ok = summary["ok"] and all(r["ok"] for r in doc["results"])
    return 0 if ok else 1


def add_arguments(r: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    r.add_argument("scenario", nargs="?", help="scenario YAML (or use --collective/--topo)")
    r.add_argument("--collective", help="all_reduce, all_gather, reduce_scatter, broadcast, "
                   "alltoall")
    r.add_argument("--topo", metavar="SPEC", help="topology spec, e.g. hypernode,profile=dgx-h100")
    r.add_argument("--sizes", help="SIZE or MIN:MAX, doubling (default 1M:4M)")
    r.add_argument("--algo", help="ring, tree, hd, hierarchical, chain, direct (default auto)")
    r.add_argument("--dilation", type=float, help="time dilation D (default: automatic)")
    r.add_argument("--dcqcn", action="store_true", help="senders run DCQCN (--cc dcqcn)")
    r.add_argument("--cc", choices=list(CC_VARIANTS),
                   help="senders' congestion control: dcqcn (the paper's timers) or dcqcn-rtt "
                        "(timers and rate steps scaled to the longest path's round trip)")
    r.add_argument("--dci-lossy", action="store_true",
                   help="with --pfc: the DCI links carry the RDMA class without PFC (losses "
                        "recovered by the transport), for distances lossless cannot reach")
    r.add_argument("--pfc", action="store_true",
                   help="lossless class with PFC: real PAUSE frames, 1 MB per switch "
                        "(see docs/pfc.md)")
    r.add_argument("--static", action="store_true", help="static flows instead of the controller")
    r.add_argument("--wire-only", action="store_true",
                   help="time the fabric alone: steps pay no endpoint costs (launch, sync, "
                        "protocol rate) beside the wire (see docs/projection.md)")
    r.add_argument("--fault", action="append", metavar="SPEC",
                   help="a fault while each size runs, in hardware time after its start: "
                        "link:U-V@20us[/DOWNTIME], flap:U-V@20us/50us, switch:S@20us, "
                        "nic:H@20us, "
                        "loss:U-V@20us/1%%, corrupt:U-V@20us/0.5%%, controller@20us/100us "
                        "(killed, restarted 100 us later) (repeatable; replaces the "
                        "scenario's faults:); each size also runs fault-free, for comparison")
    r.add_argument("--json", action="store_true", help="print the results document as JSON")
    r.add_argument("--out", default="results", help="results directory (default results/)")
    r.add_argument("--servers", metavar="IP[,IP]",
                   help="cluster mode: other emulation servers (see `emulate --servers` and "
                        "docs/cluster.md); the results directory must be shared with them")
    r.add_argument("--ssh-config", metavar="FILE",
                   help="ssh -F file for --servers (key, known host)")
    r.set_defaults(func=cmd_run)
