"""Faults injected while a collective runs: links, switches, NICs, the controller, and
random loss or corruption on a link (root).

A fault is ``KIND:TARGET@TIME[/ARG]`` with TIME in hardware time after the collective
starts (``ns``, ``us`` or ``ms``), dilated by the run's D:

- ``link:U-V@20us``: the link between nodes U and V goes down (and stays down);
  ``link:U-V@20us/100us``: down at 20 us, up again 100 us later;
- ``flap:U-V@20us/50us``: the link goes down at 20 us, then toggles every 50 us;
- ``switch:S@20us[/DOWNTIME]``: every port of switch S goes down (and comes back);
- ``nic:H@20us[/DOWNTIME]``: host H's scale-out links go down (its NIC);
- ``loss:U-V@20us/1%``: from 20 us on, 1% of the frames crossing the link are lost;
- ``corrupt:U-V@20us/0.5%``: from 20 us on, 0.5% of them arrive with one byte inverted
  (in a RoCEv2 frame's BTH, under the ICRC: the receiver drops it and counts an
  ``icrc_errors``; the RC transport retransmits it);
- ``controller@20us/100us``: the SDN controller is killed at 20 us and started again
  100 us later (hardware time) on the same port with the same arguments; without
  ``/DOWNTIME`` it stays down until the size ends. The switches keep their flows
  meanwhile (fail mode secure), but nothing reroutes; once back, the controller
  reinstalls every switch as it reconnects.

Names are checked against the topology before anything runs, so only known interface
names reach ``ip`` and ``tc``. Ports go down on the switch side, in the root name space:
the switch sees the port-status a real port sends, the controller reroutes, and the far
end loses carrier. Loss and corruption act, by a tc eBPF program
(:mod:`fabrictwin.linux.tcbpf`), on the egress of the root-namespace interface that
delivers into each end of the link: with a delay line on the link (every delayed link has
one), its two ends, so both directions; without, the switch ports' own egress, so a
switch-to-switch link in both directions and a host's link only toward the host (its
interface lives in the host's name space). At the end of each size every faulted port
comes back up, every loss or corruption filter is removed and a stopped controller is
started again (and has programmed every switch), so the next size starts whole.
:func:`reroutes` reads, from the controller's decision log, how long after each port event
it had installed the new rules; :func:`controller_outages` when it was down and when the
switches were programmed again.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux import tcbpf
from fabrictwin.linux.names import check_name
from fabrictwin.units import parse_latency_ns

log = logging.getLogger(__name__)

KINDS = ("link", "flap", "switch", "nic", "loss", "corrupt", "controller")
LINK_KINDS = ("link", "flap", "loss", "corrupt")
_SPEC = re.compile(r"^(?P<kind>[a-z]+)(?::(?P<target>[a-z0-9-]+))?@(?P<at>[0-9.e+]+[mun]?s)"
                   r"(?:/(?P<arg>[0-9.e+]+(?:[mun]?s|%)))?$")
EXAMPLES = ("link:l0-s1@20us, link:l0-s1@20us/100us, flap:l0-s1@20us/50us, switch:s0@10us, "
            "nic:h0@10us, "
            "loss:l0-s1@10us/1%, corrupt:l0-s1@10us/0.5%, controller@10us/100us")


@dataclass(frozen=True)
class Fault:
    spec: str
    kind: str
    nodes: tuple[str, ...]      # the link's two ends, or the switch / host; () controller
    at_ns: float                # hardware time after the collective starts
    period_ns: float = 0.0      # flap: time between toggles
    rate: float = 0.0           # loss, corrupt: fraction of the frames (0..1]
    #: link, switch, nic, controller: how long it stays down (0: until the size ends)
    down_ns: float = 0.0

    def _links(self, plan: Any) -> list[Any]:
        return [link for link in plan.links if {link.u, link.v} == set(self.nodes)]

    def ports(self, plan: Any) -> list[str]:
        """The switch-side interfaces this fault takes down."""
        if self.kind in ("loss", "corrupt", "controller"):
            return []
        hosts = {h.name for h in plan.hosts}
        out = []
        for link in plan.links:
            ends = ((link.u, link.intf_u), (link.v, link.intf_v))
            if self.kind in ("link", "flap") and {link.u, link.v} != set(self.nodes):
                continue
            if self.kind in ("switch", "nic") and self.nodes[0] not in (link.u, link.v):
                continue
            if self.kind == "nic" and link.tier == "scale-up":
                continue  # a NIC is the scale-out port; NVLink stays
            out += [intf for node, intf in ends if node not in hosts]
        return out

    def feeds(self, plan: Any) -> list[str]:
        """Loss, corrupt: the root-namespace interfaces whose egress delivers into the
        link's ends (a delay line's two ends; else the switch ports, each feeding the far
        end)."""
        if self.kind not in ("loss", "corrupt"):
            return []
        hosts = {h.name for h in plan.hosts}
        out = []
        for link in self._links(plan):
            if link.delay_line:
                out += [f"{link.delay_line}a", f"{link.delay_line}b"]
            else:
                out += [intf for node, intf in ((link.u, link.intf_u), (link.v, link.intf_v))
                        if node not in hosts]
        return out


def _bad(spec: str, why: str) -> FabricTwinError:
    return FabricTwinError(f"--fault {spec!r}: {why}")


def parse_fault(spec: str, g: nx.Graph) -> Fault:
    """One fault, checked against ``g`` (one-line errors naming the problem).

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=1")
    >>> parse_fault("link:l0-s1@20us", g)  # doctest: +NORMALIZE_WHITESPACE
    Fault(spec='link:l0-s1@20us', kind='link', nodes=('l0', 's1'), at_ns=20000.0,
          period_ns=0.0, rate=0.0, down_ns=0.0)
    >>> parse_fault("flap:l0-s1@1ms/50us", g).period_ns
    50000.0
    >>> parse_fault("loss:l0-s1@20us/1%", g).rate
    0.01
    >>> parse_fault("controller@20us/100us", g).down_ns
    100000.0
    """
    m = _SPEC.match(spec.strip())
    if not m or m["kind"] not in KINDS:
        raise _bad(spec, f"expected KIND:TARGET@TIME with KIND one of {', '.join(KINDS)} "
                   f"(e.g. {EXAMPLES})")
    kind, target, arg = m["kind"], m["target"], m["arg"]
    at = parse_latency_ns(m["at"], "--fault time")
    if kind == "controller":
        if target is not None:
            raise _bad(spec, "the controller takes no target: controller@TIME[/DOWNTIME]")
        if arg is not None and arg.endswith("%"):
            raise _bad(spec, "controller@TIME/DOWNTIME takes a time, e.g. controller@20us/100us")
        down = parse_latency_ns(arg, "--fault downtime") if arg else 0.0
        if arg and not down > 0:
            raise _bad(spec, "the controller's /DOWNTIME must be positive")
        return Fault(spec, kind, (), at, down_ns=down)
    if target is None:
        raise _bad(spec, f"expected KIND:TARGET@TIME (e.g. {EXAMPLES})")
    period, rate, down = 0.0, 0.0, 0.0
    if kind in ("loss", "corrupt"):
        if arg is None or not arg.endswith("%"):
            raise _bad(spec, f"{kind} needs /RATE% after the time, e.g. {kind}:U-V@20us/1%")
        rate = float(arg[:-1]) / 100
        if not 0 < rate <= 1:
            raise _bad(spec, f"{kind} rate must be above 0% and at most 100%, got {arg}")
    elif kind == "flap":
        if arg is None or arg.endswith("%"):
            raise _bad(spec, "a flap needs /PERIOD (positive), e.g. flap:U-V@20us/50us")
        period = parse_latency_ns(arg, "--fault period")
        if not period > 0:
            raise _bad(spec, "a flap needs /PERIOD (positive), e.g. flap:U-V@20us/50us")
    elif arg is not None:
        down = parse_latency_ns(arg, "--fault downtime") if not arg.endswith("%") else 0.0
        if not down > 0:
            raise _bad(spec, f"{kind}:TARGET@TIME/DOWNTIME takes a positive time, e.g. "
                       f"{kind}:{target}@20us/100us (loss and corrupt take /RATE%)")
    if kind in LINK_KINDS:
        nodes = tuple(n for n in g if target.startswith(f"{n}-") and target[len(n) + 1:] in g
                      and g.has_edge(n, target[len(n) + 1:]))
        if not nodes:
            raise _bad(spec, f"no link {target!r} in the topology (name both ends, U-V)")
        nodes = (nodes[0], target[len(nodes[0]) + 1:])
    else:
        want = "switch" if kind == "switch" else "host"
        if target not in g or g.nodes[target].get("kind") != want:
            raise _bad(spec, f"no {want} {target!r} in the topology")
        nodes = (target,)
    for n in nodes:
        check_name(n)
    return Fault(spec, kind, nodes, at, period, rate, down)


def parse_faults(specs: Sequence[str], g: nx.Graph, *, controller: bool = True) -> list[Fault]:
    """Every fault of ``specs``; a controller fault needs the controller (not ``--static``)."""
    faults = [parse_fault(s, g) for s in specs]
    if not controller:
        for f in faults:
            if f.kind == "controller":
                raise _bad(f.spec, "the run has no controller (--static)")
    return faults


@dataclass(frozen=True)
class Step:
    """One thing a fault does, at ``t_ns`` (CLOCK_MONOTONIC)."""

    t_ns: float
    action: str                 # "ports", "loss", "corrupt" or "controller"
    up: bool = False            # ports, controller: back up (True) or down
    ports: tuple[str, ...] = ()  # ports: the interfaces; loss, corrupt: where the filter goes
    rate: float = 0.0


def timeline(faults: Sequence[Fault], plan: Any, start_at_ns: float,
             until_ns: float) -> list[Step]:
    """What ``faults`` do and when, in dilated time from ``start_at_ns``, up to
    ``until_ns`` (a flap's toggles; a controller's restart after its downtime)."""
    steps = []
    for f in faults:
        t = start_at_ns + f.at_ns * plan.dilation
        if f.kind == "controller":
            steps.append(Step(t, "controller", up=False))
            if f.down_ns:
                steps.append(Step(t + f.down_ns * plan.dilation, "controller", up=True))
            continue
        if f.kind in ("loss", "corrupt"):
            steps.append(Step(t, f.kind, ports=tuple(f.feeds(plan)), rate=f.rate))
            continue
        ports = tuple(f.ports(plan))
        steps.append(Step(t, "ports", up=False, ports=ports))
        if f.down_ns:
            steps.append(Step(t + f.down_ns * plan.dilation, "ports", up=True, ports=ports))
        if f.kind == "flap":
            up, step = True, f.period_ns * plan.dilation
            while (t := t + step) < until_ns:
                steps.append(Step(t, "ports", up=up, ports=ports))
                up = not up
    steps.sort(key=lambda s: s.t_ns)
    return steps


def _set(intfs: Sequence[str], up: bool) -> None:
    for intf in intfs:
        check_name(intf)  # only plan names get here; checked again before `ip`
        subprocess.run(["ip", "link", "set", "dev", intf, "up" if up else "down"],
                       check=False, capture_output=True)


@contextmanager
def injected(faults: Sequence[Fault], plan: Any, start_at_ns: int, until_ns: float, *,
             controller: Any = None, record_pid: Callable[[int], None] = lambda _p: None,
             ) -> Iterator[list[dict[str, Any]]]:
    """Carry out ``faults`` from ``start_at_ns`` (CLOCK_MONOTONIC) in dilated time, until
    ``until_ns``; yields the events (wall time, hardware time, what) as they happen. On
    exit every faulted port is up, every loss filter gone, and ``controller`` (the
    :class:`~fabrictwin.controllers.process.ControllerProcess` a controller fault stops)
    running with every switch programmed; ``record_pid`` learns a restarted one's pid."""
    steps = timeline(faults, plan, start_at_ns, until_ns)
    if controller is None and any(s.action == "controller" for s in steps):
        raise FabricTwinError("--fault controller: the run has no controller (--static)")
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    touched: set[str] = set()
    filtered: set[str] = set()
    state = {"controller_down": False}

    def restart() -> None:
        assert controller is not None
        controller.restart()
        record_pid(controller.proc.pid)
        state["controller_down"] = False

    def event(action: str, **what: Any) -> dict[str, Any]:
        """An event now: wall time, CLOCK_MONOTONIC and hardware us after the start."""
        now = time.monotonic_ns()
        return {"t": time.time(), "monotonic_ns": now, "action": action,
                "hw_us": round((now - start_at_ns) / plan.dilation / 1e3, 3), **what}

    def run() -> None:
        try:
            carry_out()
        except (FabricTwinError, OSError) as exc:  # the row says so; cleanup still runs
            log.error("fault injection stopped: %s", exc)
            events.append(event("error", error=str(exc), hw_us=None))

    def carry_out() -> None:
        for step in steps:
            if stop.wait(max(0.0, (step.t_ns - time.monotonic_ns()) / 1e9)):
                return
            if step.action == "ports":
                # logged before the first port moves: the controller is quick
                events.append(event("ports", ports=list(step.ports), up=step.up))
                _set(step.ports, step.up)
                touched.update(step.ports)
            elif step.action == "controller":
                events.append(e := event("controller", up=step.up))
                if step.up:
                    restart()
                    e["listening_t"] = time.time()
                else:
                    state["controller_down"] = True
                    controller.stop()
            else:
                e = event(step.action, ports=list(step.ports), rate=step.rate)
                for intf in step.ports:
                    tcbpf.attach(intf, step.action, step.rate)
                    filtered.add(intf)
                events.append(e)

    worker = threading.Thread(target=run, name="faults", daemon=True)
    worker.start()
    try:
        yield events
    finally:
        stop.set()
        worker.join()
        _set(sorted(touched), True)
        for intf in sorted(filtered):
            tcbpf.detach(intf)
        if state["controller_down"]:
            events.append(event("controller", up=True, after_size=True))
            restart()
            events[-1]["listening_t"] = time.time()
        if any(e["action"] == "controller" and e["up"] for e in events):
            # the next size (or the report) needs every switch programmed again
            since = min(e["t"] for e in events if e["action"] == "controller" and e["up"])
            controller.wait_switches(len(plan.switches), timeout_s=120, since=since)


def reroutes(decisions: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]],
             ) -> list[float]:
    """For each port event, ms from it until the controller had installed new rules (the
    first ``reroute_installed`` of its ``decisions`` after it; barriers acknowledged)."""
    installed = sorted(d["t"] for d in decisions if d.get("kind") == "reroute_installed")
    out = []
    for e in events:
        if e.get("action", "ports") != "ports":
            continue
        after = [t for t in installed if t >= e["t"] - 0.001]
        if after:
            out.append(round((after[0] - e["t"]) * 1e3, 2))
    return out


def controller_outages(decisions: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]],
                       switches: int) -> list[dict[str, Any]]:
    """Each time the controller was down: when it went down and was started again
    (hardware us after the collective's start), how long it took to listen and to have
    programmed all ``switches`` again (wall ms after the restart, from the decision log's
    ``switch_ready``; None if not all were)."""
    out: list[dict[str, Any]] = []
    for e in events:
        if e.get("action") != "controller":
            continue
        if not e["up"]:
            out.append({"down_us": e["hw_us"], "up_us": None, "listening_ms": None,
                        "reprogrammed_ms": None, "after_size": False})
            continue
        if not out or out[-1]["up_us"] is not None:
            continue
        ready: dict[str, float] = {}
        for d in decisions:
            if d.get("kind") == "switch_ready" and d["t"] >= e["t"]:
                ready.setdefault(d.get("switch", ""), d["t"])
        out[-1].update(
            up_us=e["hw_us"], after_size=bool(e.get("after_size")),
            listening_ms=round((e["listening_t"] - e["t"]) * 1e3, 1)
            if e.get("listening_t") else None,
            reprogrammed_ms=round((max(ready.values()) - e["t"]) * 1e3, 1)
            if len(ready) >= switches else None)
    return out
