"""One emulation run end to end: probe, calibrate, choose D, bring up, check, report.

The CLI's ``emulate`` and (later) ``run`` call :func:`emulate`. SIGTERM is turned
into the same unwinding as Ctrl-C, so teardown always runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.controllers.process import start_controller
from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.calibrate import Calibration, calibrate
from fabrictwin.fabric.load import DilationChoice, dilation_for_traffic
from fabrictwin.fabric.ovs_txbuf import RX_BUFFER_BYTES, TX_BUFFER_BYTES, raised_tx_buffer
from fabrictwin.fabric.pfc.lossless import lossless_run
from fabrictwin.fabric.pfc.setup import link_distances, pfc_setup, switch_buffers
from fabrictwin.fabric.pfc.timeline import timeline
from fabrictwin.fabric.plan import EmulationPlan, choose_dilation, plan_emulation
from fabrictwin.fabric.probe import Capabilities, probe
from fabrictwin.fabric.state import RUN_ROOT, run_prefix
from fabrictwin.linux.commands import require_root, require_tools
from fabrictwin.linux.cpu import CpuWatch
from fabrictwin.linux.procs import free_port
from fabrictwin.topologies.graph import dci_routers

log = logging.getLogger(__name__)

#: Auto dilation keeps the busiest link at this share of what one hop forwards, since
#: several links share the machine's cores.
RATE_HEADROOM = 0.5
#: With traffic on every link at once, the sum of all links is kept at this share: the
#: endpoint agents and the single-threaded userspace switch share the cores. Measured
#: here on 8 ranks (ring all-reduce): at 0.5 frames were lost to starved processes; at
#: 0.1 no loss but a core saturated while data moved (cpu_bound, busbw 60-92% of line);
#: at 0.05 no loss, no saturation, busbw 92-93% of the dilated line rate, repeatably.
RATE_HEADROOM_LOADED = 0.05
QUEUE_SOURCE = "fabrictwin.controllers.kernel_queues:controller_source"
#: node -> server index, and servers 1.. (fabric.network.Server; 0 is this machine)
Cluster = tuple[Mapping[str, int], Sequence[Any]]


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise KeyboardInterrupt (then restore the old handler)."""

    def handler(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_dilation(dilation: float | None) -> None:
    if dilation is not None and not dilation > 0:
        raise FabricTwinError(f"--dilation must be positive, got {dilation:g}")


def max_path_delay_ns(plan: EmulationPlan) -> float:
    """Upper bound on one-way emulated delay: the sum of all delayed links' delays."""
    return sum(link.delay_ns for link in plan.delayed_links)


#: (source host, destination host) transfers of each step of what a run will move
Traffic = Sequence[Sequence[tuple[str, str]]]


def prepare(g: nx.Graph, dilation: float | None, *, recalibrate: bool = False,
            progress: Callable[[str], None] = lambda _m: None, loaded: bool = False,
            traffic: Traffic | None = None,
            ) -> tuple[Capabilities, Calibration, EmulationPlan]:
    """Checks, probe, calibration and plan: everything before the first namespace exists.

    With ``traffic`` and no ``dilation``, D comes from the load the routed steps put on
    each link (:mod:`fabrictwin.fabric.load`); the plan's notes say what set it."""
    check_dilation(dilation)
    require_root()
    require_tools("ip", "tc", "ovs-vsctl", "ovs-ofctl", "mnexec", "fping", "ethtool")
    progress("probing the machine")
    caps = probe()
    if caps.ovs not in ("running", "started"):
        raise FabricTwinError(caps.ovs)
    progress("calibrating the emulator")
    cal = calibrate(caps, reuse=not recalibrate)
    nic = g.graph.get("hardware", {}).get("nic")
    mtu = nic.mtu_bytes if nic is not None else None
    choice = None
    if dilation is not None:
        d = dilation
    elif traffic is not None:
        choice = traffic_dilation(g, traffic, cal.forward_rate_bps)
        d = choice.dilation
    else:
        headroom = RATE_HEADROOM_LOADED if loaded else RATE_HEADROOM
        d = choose_dilation(g, cal.forward_rate_bps * headroom, all_links=loaded)
    # a run beside others prefixes the names it makes (fabric.state)
    plan = plan_emulation(g, d, netem=caps.netem, mtu=mtu, prefix=run_prefix())
    if choice is not None:
        plan = replace(plan, notes=(*plan.notes, f"dilation {d:.4g} set by {choice.set_by}"),
                       dilation_choice=choice.as_dict())
    return caps, cal, plan


def traffic_dilation(g: nx.Graph, traffic: Traffic, forward_rate_bps: float) -> DilationChoice:
    """D for ``traffic`` on ``g`` at the loaded and per-link shares of one hop's rate."""
    return dilation_for_traffic(plan_emulation(g, 1.0), traffic, forward_rate_bps,
                                link_share=RATE_HEADROOM, total_share=RATE_HEADROOM_LOADED)


def result_summary(plan: EmulationPlan, caps: Capabilities, cal: Calibration,
                   timings: dict[str, float], reach: Any, cpu: CpuWatch,
                   bringup_s: float) -> dict[str, Any]:
    """The JSON a run reports: what was built, how fast, how faithful."""
    return {
        "spec": plan.spec,
        "dilation": plan.dilation,
        "hosts": len(plan.hosts),
        "switches": len(plan.switches),
        "links": len(plan.links),
        "delayed_links": len(plan.delayed_links),
        "delay_mechanism": "netem" if caps.netem else "userspace delay line",
        "datapath": "kernel" if caps.kernel_datapath else "user",
        "mtu": plan.mtu,
        "names_prefix": plan.prefix,  # non-empty when another run was going
        "bringup_s": round(bringup_s, 3),
        "bringup_steps_s": {k: round(v, 3) for k, v in timings.items()},
        "reachability": {"ok": reach.ok, "pairs": reach.pairs, "failed": len(reach.failed),
                         "first_failures": reach.failed[:5], "time_s": round(reach.time_s, 3)},
        "calibration": cal.as_dict(),
        **cpu.summary(),
        "notes": list(plan.notes),
        "dilation_choice": plan.dilation_choice,
        "ok": bool(reach.ok),
    }


@contextmanager
def maybe_controller(g: nx.Graph, plan: EmulationPlan, use: bool,
                     profiles: list[str] | None, policy: Path | None = None) -> Iterator[Any]:
    """The controller subprocess for ``g`` (None when the run uses static flows)."""
    if not use:
        yield None
        return

    log_path = RUN_ROOT / f"ft{os.getpid()}" / "controller.jsonl"
    try:
        with start_controller(g.graph["spec"], free_port(), log=log_path,
                              dilation=plan.dilation, queue_source=QUEUE_SOURCE,
                              profiles=profiles, policy=policy,
                              names_prefix=plan.prefix) as ctl:
            yield ctl
    finally:  # the run's directory outlives the emulation only while the controller runs
        shutil.rmtree(log_path.parent, ignore_errors=True)


@contextmanager
def bring_up(g: nx.Graph, plan: EmulationPlan, caps: Capabilities, *, controller: bool = True,
             profiles: list[str] | None = None, policy: Path | None = None,
             progress: Callable[[str], None] = lambda _m: None,
             leaf_qdiscs: dict[str, str] | None = None,
             cluster: Cluster | None = None) -> Iterator[tuple[Any, Any]]:
    """``plan`` running, its switches programmed: yields (emulation, controller or None).

    ``leaf_qdiscs``: an extra tc line per interface (PFC's lossless queues).
    ``cluster``: (node -> server index, the other servers): the nodes not on server 0
    run on those servers (:class:`~fabrictwin.fabric.network.ClusterEmulation`).

    Teardown of both always runs. :func:`emulate` is this plus reachability and a report;
    experiments that need the controller's handle (its log, a restart) use it directly.
    """
    from fabrictwin.fabric.network import ClusterEmulation, Emulation  # the mininet import

    if controller:
        progress("starting the controller")
    with maybe_controller(g, plan, controller, profiles, policy) as ctl:
        kw: dict[str, Any] = {"progress": progress, "controller": ctl.address if ctl else None,
                              "extra_pids": (ctl.proc.pid,) if ctl else (),
                              "leaf_qdiscs": leaf_qdiscs, "controller_process": ctl}
        emulation = Emulation(plan, caps, **kw) if cluster is None else \
            ClusterEmulation(plan, caps, cluster[0], list(cluster[1]), **kw)
        with emulation as emu:
            if ctl is not None:
                progress("waiting for the controller to program the switches")
                t_ctl = time.perf_counter()
                ctl.wait_switches(len(plan.switches), timeout_s=120)
                emu.timings["controller"] = time.perf_counter() - t_ctl
            yield emu, ctl


def emulate(g: nx.Graph, dilation: float | None = None, *, recalibrate: bool = False,
            controller: bool = True, profiles: list[str] | None = None, loaded: bool = False,
            policy: Path | None = None, pfc: Any = None,
            progress: Callable[[str], None] = lambda _m: None,
            inside: Callable[[Any], None] | None = None,
            traffic: Traffic | None = None, cluster: Cluster | None = None) -> dict[str, Any]:
    """Bring ``g`` up, check all-pairs reachability, optionally call ``inside(emulation)``.

    With ``controller`` (the default) the SDN controller programs the switches;
    without, the plan's static flow tables do. ``loaded``: traffic will load every
    link at once, so automatic dilation divides the sum of link rates (not the busiest);
    ``traffic`` (the steps' host pairs) sets it from the routed load instead.
    ``pfc`` (:class:`~fabrictwin.fabric.pfc.setup.PfcOptions`): lossless queues and the
    PFC daemon while ``inside`` runs; its counters land in the summary's ``pfc``.
    ``cluster``: some nodes on other servers (:func:`bring_up`); PFC is not available
    there yet.
    """
    if cluster is not None and pfc is not None:
        raise FabricTwinError("--pfc: not available on a cluster yet (its daemon watches "
                              "this machine's switch ports only)")
    with sigterm_as_interrupt():
        caps, cal, plan = prepare(g, dilation, recalibrate=recalibrate, progress=progress,
                                  loaded=loaded, traffic=traffic)
        setup = None
        if pfc is not None:
            # a buffer too small is refused before bring-up; DCI routers have their own
            # (deep) buffers, and a DCI too long for lossless is named with its distance
            dci = dci_routers(g)
            setup = pfc_setup(plan, pfc, distances_m=link_distances(g), buffers={
                n: b for n, b in switch_buffers(g).items() if pfc.hardware_buffers or n in dci})
        leaf = setup.leaf_qdiscs() if setup else None
        with CpuWatch() as cpu:
            t0 = time.perf_counter()
            with bring_up(g, plan, caps, controller=controller, profiles=profiles,
                          policy=policy, progress=progress, leaf_qdiscs=leaf,
                          cluster=cluster) as (emu, ctl):
                bringup = time.perf_counter() - t0
                progress("checking all-pairs reachability")
                # two round trips over the slowest path, plus queueing slack
                timeout_s = 1.0 + 4 * max_path_delay_ns(plan) / 1e9
                reach = emu.reachability(timeout_s)
                summary = result_summary(plan, caps, cal, emu.timings, reach, cpu, bringup)
                summary["reachable_at_unix"] = time.time()
                summary["forwarding"] = "controller" if ctl else "static flows"
                if cluster is not None:
                    where = list(cluster[0].values())
                    summary["cluster"] = {
                        "servers": ["this machine", *(s.address for s in cluster[1])],
                        "nodes": [where.count(k) for k in range(1 + len(cluster[1]))],
                        "tunnels": len(emu.tunnels)}
                if ctl is not None:
                    summary["controller_decisions"] = len(ctl.decisions())
                if inside is not None and setup is not None:
                    summary["pfc"] = _inside_pfc(emu, setup, inside)
                elif inside is not None:
                    # else OVS's one send socket caps all egress queues together at
                    # ~100 KB and drops past it: an incast (a tree's parent) lost frames
                    # the queues had room for (fabric/ovs_txbuf.py)
                    with raised_tx_buffer(TX_BUFFER_BYTES, RX_BUFFER_BYTES,
                                          emu.switch_ports()):
                        inside(emu)
                progress("tearing down")
    return summary


def _inside_pfc(emu: Any, setup: Any, inside: Callable[[Any], None]) -> dict[str, Any]:
    """``inside(emu)`` with the PFC daemon running; its run-level counters."""

    with lossless_run(emu, setup, emu.state.dir / "pfc") as daemon:
        inside(emu)
    r = daemon.result
    return {"thresholds": setup.report, "timeline": timeline(daemon.series()),
            **{k: r.get(k) for k in ("pauses", "pause_frames_sent", "pauses_received",
                                     "lossless_drops", "ovs_port_drops", "ovs_socket_drops",
                                     "ovs_datapath_lost",
                                     "max_backlog_bytes",
                                     "max_switch_backlog_bytes", "watchdog_events", "polls",
                                     "max_poll_gap_ms")}}
