"""A collective over the emulated fabric: agents in every GPU host, timed like nccl-tests.

For each size: build the schedule (pure, :mod:`.schedules`), give every rank's agent its part
(:func:`fabrictwin.traffic.config.agent_configs`), start all agents at one
instant of the machine's single monotonic clock, and read their results. The
collective's time is first byte sent to last byte landed, divided by the
dilation D to give hardware time; algbw = size / time, busbw by nccl-tests'
factor for the collective (doc/PERFORMANCE.md of NVIDIA/nccl-tests).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.fabric.plan import frame_path
from fabrictwin.linux.cpu import CpuWatch
from fabrictwin.model.bounds import busbw_bound_GBps
from fabrictwin.model.collectives import busbw_factor
from fabrictwin.model.emulated import (
    endpoint_charges,
    system_of,
)
from fabrictwin.runs.agents import agent_commands, agent_results, linger_s
from fabrictwin.runs.endpoint import emulated_delay_ns, transfer_charges
from fabrictwin.runs.faults import Fault, controller_outages, injected, reroutes
from fabrictwin.runs.schedules import model_of, resolve_algorithm, schedule_of
from fabrictwin.topologies.graph import hosts as graph_hosts
from fabrictwin.topologies.graph import node_keys
from fabrictwin.traffic.config import agent_configs
from fabrictwin.traffic.dcqcn import cc_params

log = logging.getLogger(__name__)

START_SLACK_S = 2.5  # agents import scapy and build frame templates before the start


def longest_path(g: Any) -> tuple[float, float, float]:
    """(round trip ns, bottleneck bps, NIC bps) in hardware terms of the longest
    host-to-host route of ``g`` (by latency): what sizes windows and congestion control
    for traffic that crosses the farthest links, e.g. a DCI."""
    names = graph_hosts(g)
    dist, paths = nx.single_source_dijkstra(g, names[0], weight="latency_ns")
    far = max((h for h in names if h in dist), key=dist.__getitem__)
    path = paths[far]
    rates = [g.edges[a, b]["rate_bps"] for a, b in zip(path, path[1:], strict=False)]
    nic = max((d["rate_bps"] for h in names[:1] for _, _, d in g.edges(h, data=True)
               if d.get("tier") != "scale-up"), default=min(rates, default=0.0))
    return 2 * dist[far], min(rates, default=0.0), nic


def _agent_options(emu: Any, g: Any, cc: str | None, expected_s: float) -> dict[str, Any]:
    plan = emu.plan
    line = max(link.rate_bps for link in plan.links)
    rtt_ms = 2 * sum(link.delay_ns for link in plan.delayed_links) / 1e6
    pmtu = 4096 if plan.mtu >= 4096 + 68 else 1024
    rtt_hw_ns, bottleneck_bps, nic_bps = longest_path(g)
    # RDMA has no byte window: a QP keeps its path's bandwidth-delay product in flight
    # (over a DCI, megabytes); 256 frames covers every path inside a DC
    window = max(256, math.ceil(1.25 * bottleneck_bps * rtt_hw_ns / 1e9 / 8 / pmtu))
    # A full window queued at the slowest link must not look like a loss: the RTO
    # covers draining it, plus the round trip over every delayed link.
    slowest = min(link.rate_bps for link in plan.links)
    drain_ms = window * (pmtu + 68) * 8 / slowest * 1e3
    rto_ms = 20.0 + 4 * rtt_ms
    opts: dict[str, Any] = {
        "pmtu": pmtu,
        "window": window,
        "line_rate_bps": line,
        "rto_ms": rto_ms,
        # each QP adds its own window's drain: a plane's small part gets a short timeout,
        # so a broken path is found in seconds (stall_timeouts)
        "rto_drain_bps": slowest,
        "timeout_s": 30.0 + 10 * expected_s,
        "linger_s": linger_s(rto_ms + 2 * drain_ms, rtt_ms),
    }
    if cc is not None:  # the NIC's rate steps, timers for the longest path's round trip
        opts["dcqcn"] = asdict(cc_params(cc, nic_bps, rtt_hw_ns).dilated(plan.dilation))
    return opts


def measure(emu: Any, g: Any, collective: str, algorithm: str, size_bytes: int,
            run_dir: Path, *, cc: str | None = None, drop_every_n: int = 0,
            endpoint: bool = True, faults: Sequence[Fault] = ()) -> dict[str, Any]:
    """Run one collective of ``size_bytes`` on every host of ``emu`` (graph ``g``); one row,
    beside the model's figures for the same case. With ``endpoint`` every step also pays
    what the GPUs pay beside the wire (:mod:`.endpoint`); without, the run times the wire
    alone (what the fabric can carry)."""
    plan = emu.plan
    hosts = [h.name for h in plan.hosts]
    sched = schedule_of(g, hosts, collective, algorithm, size_bytes)
    algorithm = resolve_algorithm(collective, algorithm)
    system = system_of(g, hosts)
    model = model_of(g, hosts, collective, algorithm, size_bytes) if system else None
    charges = None
    if endpoint and system is not None:
        keys = node_keys(g, hosts)
        charges = transfer_charges(
            sched, hosts, keys, endpoint_charges(system, collective, algorithm, size_bytes),
            plan.dilation, emulated_delay_ns(plan, g))
    slowest = min(link.rate_bps for link in plan.links)
    expected_s = 8 * size_bytes * 2 / slowest
    if model is not None:  # the endpoint costs stretch it, in dilated time
        expected_s += float(model.time_s[0]) * plan.dilation
    step_dir = run_dir / f"size-{size_bytes}{'-faults' if faults else ''}"
    events: list[dict[str, Any]] = []
    results, cpu = run_schedule(emu, g, sched, step_dir, charges=charges, cc=cc,
                                expected_s=expected_s, drop_every_n=drop_every_n,
                                faults=faults, fault_events=events)
    row = summarise(results, collective, len(hosts), size_bytes, plan.dilation)
    if row["started_ns"] is not None:
        # Only while data moved: agents importing scapy beforehand are not the measurement.
        # (started_ns/finished_ns stay in the row: CLOCK_MONOTONIC, as the PFC timeline)
        busy = cpu.window(row["started_ns"], row["finished_ns"])
        row.update(cpu_bound=busy.cpu_bound, cpu_mean=round(busy.mean, 3), cpu_limit=busy.limit())
    row = judge(row, results, hosts, plan, busbw_bound_GBps(g, hosts))
    if faults:
        row.update(fault_columns(faults, events, getattr(emu, "controller_process", None),
                                 len(plan.switches)))
        if row["fault_error"] and row["ok"]:  # it measured something else than the fault
            row.update(ok=False, failure=f"fault injection failed: {row['fault_error']}",
                       time_us=None, algbw_GBps=None, busbw_GBps=None)
    return beside_model(row, model, endpoint=charges is not None)


def fault_columns(faults: Sequence[Fault], events: Sequence[dict[str, Any]], ctl: Any,
                  switches: int) -> dict[str, Any]:
    """What a faulted row adds: the faults, their events, reroute times (ms after each
    port event), the controller's outages, loss filters, and an injection error if any."""
    decisions = ctl.decisions() if ctl is not None else []  # read once, for both
    errors = [e["error"] for e in events if e.get("action") == "error"]
    return {
        "faults": [f.spec for f in faults],
        "fault_events": sum(1 for e in events if e.get("action") != "error"),
        "reroute_ms": reroutes(decisions, events),
        "controller_outages": controller_outages(decisions, events, switches),
        "fault_filters": sorted({p for e in events if e.get("action") in ("loss", "corrupt")
                                 for p in e["ports"]}),
        "fault_error": errors[0] if errors else None,
    }


def run_schedule(emu: Any, g: Any, sched: Any, step_dir: Path, *,
                 charges: dict[int, dict[str, float]] | None = None, cc: str | None = None,
                 expected_s: float = 0.0, drop_every_n: int = 0,
                 faults: Sequence[Fault] = (), fault_events: list[dict[str, Any]] | None = None,
                 ) -> tuple[list[dict[str, Any]], CpuWatch]:
    """Rank r of ``sched`` on the plan's host r, all agents starting at one instant; their
    results (every transfer's bytes checked) and the CPU watch over the run. ``faults``
    happen while they run (:mod:`.faults`); their events land in ``fault_events``."""
    plan = emu.plan
    hosts = [h.name for h in plan.hosts]
    opts = _agent_options(emu, g, cc, expected_s)
    opts["start_at_ns"] = time.monotonic_ns() + int(START_SLACK_S * 1e9)
    opts["drop_every_n"] = drop_every_n  # loss injection at the receivers (tests)
    step_dir.mkdir(parents=True, exist_ok=True)
    opts["result"] = str(step_dir / "agent-{rank}.json")
    configs = agent_configs(plan.hosts, sched, hosts, charges=charges, **opts)
    commands = agent_commands(configs, hosts, step_dir)
    rank_of = {h: r for r, h in enumerate(hosts)}

    def stalled(host: str) -> bool:
        """An agent gave up on a broken path: the others need not wait out their timeout."""
        path = Path(configs[rank_of[host]]["result"])
        try:
            return bool(json.loads(path.read_text()).get("stalled"))
        except (OSError, ValueError):
            return False

    until = opts["start_at_ns"] + opts["timeout_s"] * 1e9
    ctl = getattr(emu, "controller_process", None)  # a controller fault stops, restarts it
    with CpuWatch() as cpu, injected(faults, plan, opts["start_at_ns"], until, controller=ctl,
                                     record_pid=getattr(emu, "record_pid", lambda _p: None),
                                     ) as events:
        outputs = emu.run_in_hosts(commands, abort=stalled)
    if fault_events is not None:
        fault_events.extend(events)
    return agent_results(configs, hosts, step_dir, outputs), cpu


def beside_model(row: dict[str, Any], model: Any, *, endpoint: bool) -> dict[str, Any]:
    """The model's time and busbw for the same case, and emulated time / model time
    (null when the row failed or no model describes the topology)."""
    if model is None:
        row.update(model_time_us=None, model_busbw_GBps=None, emulated_vs_model=None,
                   model_algorithm=None, endpoint_costs=False)
        return row
    model_us = float(model.time_s[0]) * 1e6
    row.update(model_time_us=model_us, model_busbw_GBps=float(model.busbw_GBps[0]),
               model_algorithm=f"{model.algorithm[0]}/{model.protocol[0]}",
               endpoint_costs=endpoint,
               emulated_vs_model=row["time_us"] / model_us if row["time_us"] else None)
    return row


def judge(row: dict[str, Any], results: list[dict[str, Any]], hosts: Sequence[str],
          plan: Any, bound_GBps: float) -> dict[str, Any]:
    """A row that did not complete, lost bytes, or beat the hardware keeps no figure:
    ``ok`` false, time, algbw and busbw null, and ``failure`` saying why in one line."""
    failure = failure_of(results, hosts, plan)
    if failure is None and row["time_us"] is None:
        failure = "the collective moved no data"
    if failure is None and row["lost_bytes"]:
        failure = f"{row['lost_bytes']} bytes lost"
    if failure is None and row["busbw_GBps"] > bound_GBps:
        failure = (f"emulator fault: busbw {row['busbw_GBps']:.1f} GB/s is above "
                   f"{bound_GBps:.1f} GB/s, what the slowest rank's links carry")
    row["busbw_bound_GBps"] = round(bound_GBps, 3)
    if failure is not None:
        row.update(ok=False, failure=failure, time_us=None, algbw_GBps=None, busbw_GBps=None)
    return row


def failure_of(results: list[dict[str, Any]], hosts: Sequence[str], plan: Any) -> str | None:
    """Why a collective did not complete (None when it did): the stuck rank pairs and
    the path their frames take, or the incomplete transfers' pairs."""
    stuck = [(r["rank"], s) for r in results for s in r.get("stalled", [])]
    if stuck:
        rank, s = stuck[0]
        path = " > ".join(frame_path(plan, s["interface"], hosts[s["dst"]]))
        more = f" (+{len(stuck) - 1} more stalled)" if len(stuck) > 1 else ""
        return (f"rank {rank} -> rank {s['dst']} ({hosts[rank]} -> {hosts[s['dst']]}) "
                f"stalled after {s['timeouts']} timeouts on {path}{more}")
    if all(r["ok"] for r in results):
        return None
    pairs = sorted({(x["src"], r["rank"]) for r in results for x in r["recvs"]
                    if not x["done"]} | {(r["rank"], x["dst"]) for r in results
                                         for x in r["sends"] if not x["done"]})
    failed = [r["rank"] for r in results if not r["ok"]]
    named = ", ".join(f"{a} -> {b}" for a, b in pairs[:4]) + (" ..." if len(pairs) > 4 else "")
    return (f"ranks {', '.join(map(str, failed))} did not complete"
            + (f"; incomplete pairs {named}" if pairs else ""))


def summarise(results: list[dict[str, Any]], collective: str, ranks: int, size_bytes: int,
              dilation: float) -> dict[str, Any]:
    """nccl-tests' figures in hardware time, plus losses and congestion counters."""
    sends = [s for r in results for s in r["sends"]]
    recvs = [x for r in results for x in r["recvs"]]
    # from the instant the first sends were ready: a launch cost before the first frame
    # is part of the collective's time
    started = [s.get("ready_ns") or s["start_ns"] for s in sends if s["start_ns"]]
    finished = [x["finish_ns"] for x in recvs if x["finish_ns"]]
    moved = bool(started and finished)
    time_hw_s = (max(finished) - min(started)) / 1e9 / dilation if moved else None
    algbw = size_bytes / time_hw_s / 1e9 if time_hw_s else None
    start_of = {s["id"]: s["start_ns"] for s in sends}
    fct = [(x["finish_ns"] - start_of[x["id"]]) / 1e3 / dilation for x in recvs
           if x["done"] and start_of.get(x["id"])]
    return {
        "size_bytes": size_bytes,
        "time_us": time_hw_s * 1e6 if time_hw_s else None,
        "algbw_GBps": algbw,
        "busbw_GBps": algbw * busbw_factor(collective, ranks) if algbw else None,
        "lost_bytes": sum(x["size_bytes"] - x["bytes_received"] for x in recvs
                          if not x["data_ok"]),
        "retransmits": sum(r["retransmits"] for r in results),
        "icrc_errors": sum(r.get("icrc_errors", 0) for r in results),  # corrupted frames
        "cnps": sum(r["cnps_sent"] for r in results),
        "ecn_marked": sum(r["ecn_marked"] for r in results),
        "pfc_pauses": sum(r.get("pfc_pauses", 0) for r in results),  # PAUSEs obeyed
        "ok": all(r["ok"] for r in results) and moved,
        "emulated_time_s": (max(finished) - min(started)) / 1e9 if moved else None,
        "started_ns": min(started) if moved else None,
        "finished_ns": max(finished) if moved else None,
        "transfers": len(recvs),
        "fct_us": fct,
    }


def with_baseline(row: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``row`` (faulted) with the fault-free run's time and its slowdown against it.

    >>> with_baseline({"time_us": 90.0}, {"time_us": 60.0})
    {'time_us': 90.0, 'fault_free_time_us': 60.0, 'fault_slowdown': 1.5}
    >>> with_baseline({"time_us": None}, {"time_us": 60.0})["fault_slowdown"] is None
    True
    """
    row["fault_free_time_us"] = base["time_us"]
    row["fault_slowdown"] = (row["time_us"] / base["time_us"]
                             if row["time_us"] and base["time_us"] else None)
    return row


def run_sizes(emu: Any, g: Any, collective: str, algorithm: str, sizes: Sequence[int],
              run_dir: Path, *, cc: str | None = None, drop_every_n: int = 0,
              endpoint: bool = True, faults: Sequence[Fault] = (),
              on_row: Callable[[dict[str, Any]], None] = lambda _r: None) -> list[dict[str, Any]]:
    """One row per size; with ``faults``, each size runs fault-free first and the row (with
    the faults) says what they cost against it."""
    rows = []
    for size in sizes:
        base = measure(emu, g, collective, algorithm, size, run_dir, cc=cc,
                       drop_every_n=drop_every_n, endpoint=endpoint) if faults else None
        row = measure(emu, g, collective, algorithm, size, run_dir, cc=cc,
                      drop_every_n=drop_every_n, endpoint=endpoint, faults=faults)
        if base is not None:
            row = with_baseline(row, base)
        rows.append(row)
        on_row(row)
    return rows
