"""What the lossless-fabric experiments share: the spec of a run, the roles on the
leaf-spine, one run end to end (:func:`run_incast`), runs in turn (:func:`run_labelled`)
and the figures of a run (:func:`summarise`). The experiments themselves are
:mod:`fabrictwin.runs.incast` (N:1 incast, PFC and DCQCN on or off),
:mod:`fabrictwin.runs.pfc_storm` (a receiver storming PAUSE, the watchdog) and
:mod:`fabrictwin.runs.hol_victim` (a head-of-line-blocked victim flow).

Roles on a leaf-spine (:func:`place`): the receiver is the first host of the first leaf;
senders fill the other leaves first (so backpressure has hops to spread over), then
the receiver's leaf. The victim sends from a sender leaf to a host on another leaf that
no incast traffic goes to: its path shares only the sender leaf's uplink with the
incast. Every sender writes ``bytes_per_sender`` (one RDMA WRITE stream of RoCEv2
frames) at the same instant; the run's figures come from three independent places:
the switches' lossless queues (tc drops and backlog, read by the PFC daemon), the PFC
frames (daemon and agents), and the receivers' PSN checks and byte CRCs.
"""

from __future__ import annotations

import logging
import math
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.fabric.pfc.lossless import lossless_run
from fabrictwin.fabric.pfc.setup import PfcOptions, pfc_setup
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY
from fabrictwin.runs.agents import agent_commands, agent_results, linger_s
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.collectives import all_to_all_v
from fabrictwin.traffic.config import agent_configs
from fabrictwin.traffic.dcqcn import DcqcnParams

log = logging.getLogger(__name__)

#: 2 m cables: at D=40000 their 10 ns stay below the emulated-delay floor, so no
#: userspace delay line (18 processes) competes with the switch and the agents.
DEFAULT_TOPOLOGY = "leaf_spine,leaves=3,spines=1,hosts_per_leaf=5,uplink_rate=400G,cable_m=2"
#: The controller's ECN profile with DCQCN on (thresholds at 800 Gb/s, i.e. at every
#: port): the DCQCN paper's profile scaled to 800G barely marks an emulated queue.
ECN_POLICY = """\
ecn:
  kmin_bytes: {kmin}
  kmax_bytes: {kmax}
  pmax: {pmax}
  reference_rate_bps: 800G
telemetry_interval_s: 20ms
"""
START_SLACK_S = 3.0


@dataclass(frozen=True)
class IncastSpec:
    senders: int = 8
    bytes_per_sender: int = 512 * 1024
    pfc: bool = True
    dcqcn: bool = False
    cnp_interval_us: float = 50.0  # the NP's minimum time between CNPs (paper: 50 us)
    ecn_kmin: str = "5KB"
    ecn_kmax: str = "50KB"
    ecn_pmax: float = 1.0          # share of a congested port's flows marked at Kmax
    topology: str = DEFAULT_TOPOLOGY
    dilation: float = 40_000.0
    buffer_bytes: int = 600_000
    victim_bytes: int = 0          # >0: a head-of-line-blocking victim flow of this size
    storm_s: float = 0.0           # >0: the receiver storms PAUSE for this long
    storm_delay_s: float = 0.5     # after the start
    watchdog: Watchdog | None = None
    alpha: float | None = None     # dynamic PFC thresholds (None: static per port)
    sample_ms: float = 20.0
    poll_ms: float = 10.0

    def __post_init__(self) -> None:
        if self.senders < 1:
            raise FabricTwinError(f"--senders must be at least 1, got {self.senders}")
        if self.bytes_per_sender < 1:
            raise FabricTwinError("bytes per sender must be positive")
        positive = {"CNP interval (us)": self.cnp_interval_us, "dilation": self.dilation,
                    "buffer (bytes)": self.buffer_bytes, "poll interval (ms)": self.poll_ms}
        not_negative = {"victim bytes": self.victim_bytes, "storm length (s)": self.storm_s,
                        "storm delay (s)": self.storm_delay_s,
                        "sample interval (ms)": self.sample_ms}
        for name, v in positive.items():
            if not 0 < v < math.inf:  # also NaN
                raise FabricTwinError(f"{name} must be positive and finite, got {v:g}")
        for name, v in not_negative.items():
            if not 0 <= v < math.inf:
                raise FabricTwinError(f"{name} must not be negative or infinite, got {v:g}")
        if self.alpha is not None and not 0 < self.alpha < math.inf:
            raise FabricTwinError(f"alpha must be positive, got {self.alpha:g}")
        if not 0 < self.ecn_pmax <= 1:
            raise FabricTwinError(f"ECN Pmax must be in (0, 1], got {self.ecn_pmax:g}")


@dataclass
class Roles:
    receiver: str
    senders: list[str]
    victim: tuple[str, str] | None = None
    leaf_of: dict[str, str] = field(default_factory=dict)


def place(g: nx.Graph, senders: int, victim: bool) -> Roles:
    """Receiver, senders and victim pair on ``g``'s leaves (see the module docstring)."""
    leaves: dict[str, list[str]] = {}
    for h in sorted((n for n, d in g.nodes(data=True) if d["kind"] == "host"),
                    key=lambda n: (len(n), n)):
        leaf = next(iter(g.neighbors(h)))
        leaves.setdefault(leaf, []).append(h)
    order = sorted(leaves, key=lambda n: (len(n), n))
    if len(order) < (3 if victim else 1):
        raise FabricTwinError(f"the topology has {len(order)} leaves; the experiment needs "
                              f"{3 if victim else 1}")
    receiver = leaves[order[0]][0]
    free = {leaf: list(hs) for leaf, hs in leaves.items()}
    free[order[0]].remove(receiver)
    victim_pair = None
    if victim:  # destination: last leaf's last host; source: first sender leaf's last host
        victim_pair = (free[order[1]].pop(), free[order[-1]].pop())
    picked: list[str] = []
    rounds = [*order[1:], order[0]]
    while len(picked) < senders and any(free[leaf] for leaf in rounds):
        for leaf in rounds:
            if free[leaf] and len(picked) < senders:
                picked.append(free[leaf].pop(0))
    if len(picked) < senders:
        raise FabricTwinError(f"the topology has room for {len(picked)} senders, "
                              f"{senders} asked")
    return Roles(receiver, picked, victim_pair,
                 {h: leaf for leaf, hs in leaves.items() for h in hs})


def placement(spec: IncastSpec) -> tuple[nx.Graph, Roles]:
    """``spec``'s topology and the roles on it; refuses what the topology cannot hold."""
    g = build_topology(spec.topology)
    return g, place(g, spec.senders, spec.victim_bytes > 0)


def check_runs(runs: Sequence[tuple[str, IncastSpec]]) -> None:
    """Refuse now, before anything is brought up, a run that would be refused after the
    runs before it: every spec's placement on its topology."""
    for _label, spec in runs:
        placement(spec)


def _agent_options(plan: Any, spec: IncastSpec, start_ns: int, run_dir: Path) -> dict[str, Any]:
    line = max(link.rate_bps for link in plan.links)
    total = spec.senders * spec.bytes_per_sender + spec.victim_bytes
    expected_s = 8 * total / min(link.rate_bps for link in plan.links)
    rto_ms = 2000.0 + 1000 * spec.storm_s
    opts: dict[str, Any] = {
        "pmtu": 4096 if plan.mtu >= 4096 + 68 else 1024,
        "window": 256,
        "line_rate_bps": line,
        # a paused sender is not a lost one: the timeout outlasts any pause we expect
        "rto_ms": rto_ms,
        "timeout_s": 60.0 + 4 * expected_s + 2 * spec.storm_s,
        "linger_s": linger_s(rto_ms),
        "start_at_ns": start_ns,
        "sample_ms": spec.sample_ms,
        "pfc_priority": LOSSLESS_PRIORITY,
        "result": str(run_dir / "agent-{rank}.json"),
    }
    if spec.dcqcn:
        hw_line = max(link.hw_rate_bps for link in plan.links)
        params = DcqcnParams(cnp_interval_ns=spec.cnp_interval_us * 1e3).for_line_rate(hw_line)
        opts["dcqcn"] = asdict(params.dilated(plan.dilation))
    return opts


def run_incast(spec: IncastSpec, run_dir: Path,
               progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Bring the fabric up, run the experiment once, tear down; the result as a dict."""
    from fabrictwin.runs.session import bring_up, prepare, sigterm_as_interrupt

    g, roles = placement(spec)
    run_dir.mkdir(parents=True, exist_ok=True)
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory() as tmp:
        caps, _cal, plan = prepare(g, spec.dilation, progress=progress)
        setup = pfc_setup(plan, PfcOptions(enabled=spec.pfc, buffer_bytes=spec.buffer_bytes,
                                           poll_ms=spec.poll_ms, watchdog=spec.watchdog,
                                           alpha=spec.alpha))
        policy = None
        if spec.dcqcn:
            policy = Path(tmp) / "policy.yaml"
            policy.write_text(ECN_POLICY.format(kmin=spec.ecn_kmin, kmax=spec.ecn_kmax,
                                                pmax=spec.ecn_pmax))
        with bring_up(g, plan, caps, policy=policy, progress=progress,
                      leaf_qdiscs=setup.leaf_qdiscs()) as (emu, _ctl):
            progress("checking all-pairs reachability")
            reach = emu.reachability(2.0)
            if not reach.ok:
                raise FabricTwinError(f"not all pairs reachable: {reach.failed[:3]}")
            with lossless_run(emu, setup, run_dir) as daemon:
                progress("running the incast")
                agents, storm_out = _run_agents(emu, plan, spec, roles, run_dir)
            series = daemon.series()
    return summarise(spec, roles, plan, agents, daemon.result, setup.report, series, storm_out)


def run_labelled(runs: Iterable[tuple[str, IncastSpec]],
                 progress: Callable[[str, str], None] = lambda _l, _m: None,
                 ) -> list[dict[str, Any]]:
    """Each (label, spec) once, in turn, in a scratch directory; results carry ``label``.
    ``progress(label, message)`` hears each run's steps. Every spec's placement is
    checked before the first run starts."""
    runs = list(runs)
    check_runs(runs)
    results = []
    for label, spec in runs:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_incast(spec, Path(tmp), progress=lambda m, label=label: progress(label, m))
        r["label"] = label
        results.append(r)
    return results


def _run_agents(emu: Any, plan: Any, spec: IncastSpec, roles: Roles,
                run_dir: Path) -> tuple[list[dict[str, Any]], str]:
    ranks = [roles.receiver, *roles.senders]
    if roles.victim:
        ranks += list(roles.victim)
    n = len(ranks)
    matrix = [[0] * n for _ in range(n)]
    for s in range(1, spec.senders + 1):
        matrix[s][0] = spec.bytes_per_sender
    if roles.victim:
        matrix[n - 2][n - 1] = spec.victim_bytes
    sched = all_to_all_v(matrix, "incast")
    start_ns = time.monotonic_ns() + int(START_SLACK_S * 1e9)
    configs = agent_configs(plan.hosts, sched, ranks,
                            **_agent_options(plan, spec, start_ns, run_dir))
    commands = agent_commands(configs, ranks, run_dir)
    storm_host = None
    if spec.storm_s > 0:
        storm_host = roles.receiver
        intf = next(h.intfs[0] for h in plan.hosts if h.name == storm_host)
        commands[storm_host] = (
            f"{shlex.quote(sys.executable)} -m fabrictwin.traffic.pfcstorm --intf {intf} "
            f"--seconds {spec.storm_s} --priority {LOSSLESS_PRIORITY} "
            f"--start-at-ns {start_ns + int(spec.storm_delay_s * 1e9)} & "
            f"{commands[storm_host]}; wait")
    outputs = emu.run_in_hosts(commands)
    results = agent_results(configs, ranks, run_dir, outputs)
    return results, outputs.get(storm_host, "") if storm_host else ""


def summarise(spec: IncastSpec, roles: Roles, plan: Any, agents: list[dict[str, Any]],
              pfc: dict[str, Any], pfc_report: dict[str, Any], series: list[dict[str, Any]],
              storm_out: str = "") -> dict[str, Any]:
    """The experiment's figures (hardware time = emulated time / D)."""
    d = plan.dilation
    incast_hosts = set(roles.senders)
    recvs = [r for a in agents for r in a["recvs"]]
    sends = {s["id"]: (a["host"], s) for a in agents for s in a["sends"]}
    incast = [r for r in recvs if sends[r["id"]][0] in incast_hosts]
    starts = [sends[r["id"]][1]["start_ns"] for r in incast if sends[r["id"]][1]["start_ns"]]
    ends = [r["finish_ns"] for r in incast if r["finish_ns"]]
    completion_s = (max(ends) - min(starts)) / 1e9 if starts and ends and \
        all(r["done"] for r in incast) else float("nan")
    out: dict[str, Any] = {
        "spec": {**asdict(spec), "watchdog": asdict(spec.watchdog) if spec.watchdog else None},
        "topology": plan.spec, "dilation": d,
        "receiver": roles.receiver, "senders": roles.senders,
        "pfc": "on" if spec.pfc else "off", "dcqcn": "on" if spec.dcqcn else "off",
        # at every hop: the switches' tc queues, OVS's ports and OVS's sockets
        "lossless_drops": pfc.get("lossless_drops", 0),
        "ovs_port_drops": pfc.get("ovs_port_drops", 0),
        "ovs_socket_drops": pfc.get("ovs_socket_drops", 0),
        "ovs_datapath_lost": pfc.get("ovs_datapath_lost", 0),  # upcalls, any class
        "pauses": pfc.get("pauses", 0),
        "pause_frames": pfc.get("pause_frames_sent", 0),
        "host_pauses_obeyed": sum(a.get("pfc_pauses", 0) for a in agents),
        "cnps": sum(a["cnps_sent"] for a in agents),
        "ecn_marked": sum(a["ecn_marked"] for a in agents),
        "max_queue_bytes": pfc.get("max_backlog_bytes", 0),  # the deepest port queue
        # the most one switch held over all its ports (its shared lossless buffer)
        "max_switch_queue_bytes": max(pfc.get("max_switch_backlog_bytes", {}).values(),
                                      default=0),
        "completion_us": completion_s / d * 1e6,
        "emulated_s": completion_s,
        "retransmits": sum(a["retransmits"] for a in agents),
        "psn_errors": sum(a["psn_errors"] for a in agents),
        "naks": sum(a["naks_sent"] for a in agents),
        "data_ok": all(r["data_ok"] for r in recvs),
        "headroom_used": headroom_used(pfc.get("ports", {}), pfc_report),
        "thresholds": pfc_report,
        "watchdog_events": pfc.get("watchdog_events", []),
        "daemon": {k: pfc.get(k) for k in ("polls", "mean_poll_ms", "max_poll_gap_ms",
                                            "refreshes", "resumes",
                                            "pauses_received")},
        "ports": pfc.get("ports", {}),
    }
    if roles.victim:
        vid = next(i for i, (h, _s) in sends.items() if h == roles.victim[0])
        vr = next(r for r in recvs if r["id"] == vid)
        vs = sends[vid][1]
        span = (vr["finish_ns"] - vs["start_ns"]) / 1e9 if vr["finish_ns"] else float("nan")
        vagent = next(a for a in agents if a["host"] == roles.victim[0])
        out["victim"] = {"src": roles.victim[0], "dst": roles.victim[1],
                         "paused_s": vagent.get("pfc_paused_ns", 0) / 1e9,
                         "bytes": vr["bytes_received"], "done": vr["done"],
                         "emulated_s": span,
                         "throughput_Gbps": vr["bytes_received"] * 8 / span / 1e9 * d}
    if storm_out:
        out["storm"] = {"seconds": spec.storm_s, "output": storm_out.strip()[-200:]}
    t0 = min(starts) if starts else 0
    out["series"] = {
        "queue": [[(row["t_ns"] - t0) / 1e9, sum(row["backlog"].values()),
                   len(row["gated"]), len(row["pausing"])]
                  for row in series if "backlog" in row],
        "rates": [[(s[0] - t0) / 1e9, a["host"], s[2], s[3]] for a in agents
                  for s in a.get("samples", [])],
    }
    out.update(queue_percentiles(out["series"]["queue"], completion_s))
    return out


def headroom_used(ports: dict[str, dict[str, Any]], report: dict[str, Any]) -> float | None:
    """The most of its headroom any pausing port used: (largest share - XOFF) / headroom.
    Above 1 the emulator reacted slower than its headroom budget assumes (the switch's
    buffer may still hold: not every port peaks at once). None without static
    thresholds or pauses."""
    switches = report.get("switches", {})
    used = [(p["max_share_bytes"] - sw["xoff_bytes"]) / sw["headroom_bytes"]
            for p in ports.values() if p.get("xoff_sent")
            and (sw := switches.get(p["switch"])) and not sw.get("alpha")
            and sw["headroom_bytes"] > 0]
    return round(max(used), 3) if used else None


def queue_percentiles(queue: list[list[float]], span_s: float) -> dict[str, int | None]:
    """Median and 95th percentile of the fabric's total lossless backlog while the
    incast ran, and its maximum over the second half (after congestion control acted)."""
    during = sorted(row[1] for row in queue if 0 <= row[0] <= span_s)
    late = [row[1] for row in queue if span_s / 2 <= row[0] <= span_s]
    if not during:  # the incast did not finish: no span to look at
        return {"queue_p50_bytes": None, "queue_p95_bytes": None, "late_max_queue_bytes": None}
    return {"queue_p50_bytes": int(during[len(during) // 2]),
            "queue_p95_bytes": int(during[min(len(during) - 1, int(0.95 * len(during)))]),
            "late_max_queue_bytes": int(max(late, default=0))}
