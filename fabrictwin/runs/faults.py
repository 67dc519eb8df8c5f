"""Faults injected while a collective runs: a link, a switch or a NIC going down (root).

A fault is ``KIND:TARGET@TIME`` with TIME in hardware time after the collective starts
(``us`` or ``ms``), dilated by the run's D:

- ``link:U-V@20us``: the link between nodes U and V goes down (and stays down);
- ``flap:U-V@20us/50us``: the link goes down at 20 us, then toggles every 50 us;
- ``switch:S@20us``: every port of switch S goes down;
- ``nic:H@20us``: host H's scale-out links go down (its NIC).

Names are checked against the topology before anything runs, so only known interface
names reach ``ip``. Ports go down on the switch side, in the root name space: the
switch sees the port-status a real port sends, the controller reroutes, and the far end
loses carrier. Every faulted port is brought back up after the size, so the next size
starts whole. :func:`reroutes` reads, from the controller's decision log, how long after
each port event it had installed the new rules.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.names import check_name
from fabrictwin.units import parse_latency_ns

KINDS = ("link", "flap", "switch", "nic")
_SPEC = re.compile(r"^(?P<kind>[a-z]+):(?P<target>[a-z0-9-]+)@(?P<at>[0-9.e+]+[mun]?s)"
                   r"(?:/(?P<period>[0-9.e+]+[mun]?s))?$")


@dataclass(frozen=True)
class Fault:
    spec: str
    kind: str
    nodes: tuple[str, ...]      # the link's two ends, or the switch / host
    at_ns: float                # hardware time after the collective starts
    period_ns: float = 0.0      # flap: time between toggles

    def ports(self, plan: Any) -> list[str]:
        """The switch-side interfaces this fault takes down."""
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


def parse_fault(spec: str, g: nx.Graph) -> Fault:
    """One fault, checked against ``g`` (one-line errors naming the problem).

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=1")
    >>> parse_fault("link:l0-s1@20us", g)
    Fault(spec='link:l0-s1@20us', kind='link', nodes=('l0', 's1'), at_ns=20000.0, period_ns=0.0)
    >>> parse_fault("flap:l0-s1@1ms/50us", g).period_ns
    50000.0
    """
    m = _SPEC.match(spec.strip())
    if not m or m["kind"] not in KINDS:
        raise FabricTwinError(f"--fault {spec!r}: expected KIND:TARGET@TIME with KIND one of "
                              f"{', '.join(KINDS)} (e.g. link:l0-s1@20us, flap:l0-s1@20us/50us, "
                              "switch:s0@10us, nic:h0@10us)")
    kind = m["kind"]
    at = parse_latency_ns(m["at"], "--fault time")
    period = parse_latency_ns(m["period"], "--fault period") if m["period"] else 0.0
    if (kind == "flap") != bool(m["period"]) or (kind == "flap" and not period > 0):
        raise FabricTwinError(f"--fault {spec!r}: a flap needs /PERIOD (positive); "
                              "other faults take none")
    target = m["target"]
    if kind in ("link", "flap"):
        nodes = tuple(n for n in g if target.startswith(f"{n}-") and target[len(n) + 1:] in g
                      and g.has_edge(n, target[len(n) + 1:]))
        if not nodes:
            raise FabricTwinError(f"--fault {spec!r}: no link {target!r} in the topology "
                                  "(name both ends, U-V)")
        nodes = (nodes[0], target[len(nodes[0]) + 1:])
    else:
        want = "switch" if kind == "switch" else "host"
        if target not in g or g.nodes[target].get("kind") != want:
            raise FabricTwinError(f"--fault {spec!r}: no {want} {target!r} in the topology")
        nodes = (target,)
    for n in nodes:
        check_name(n)
    return Fault(spec, kind, nodes, at, period)


def _set(intfs: Sequence[str], up: bool) -> None:
    for intf in intfs:
        check_name(intf)  # only plan names get here; checked again before `ip`
        subprocess.run(["ip", "link", "set", "dev", intf, "up" if up else "down"],
                       check=False, capture_output=True)


@contextmanager
def injected(faults: Sequence[Fault], plan: Any, start_at_ns: int,
             until_ns: float) -> Iterator[list[dict[str, Any]]]:
    """Carry out ``faults`` from ``start_at_ns`` (CLOCK_MONOTONIC) in dilated time, until
    ``until_ns``; yields the events (wall time, ports, up) as they happen; brings every
    faulted port back up on exit."""
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    touched: set[str] = set()
    timeline: list[tuple[float, list[str], bool]] = []
    for f in faults:
        ports = f.ports(plan)
        t = start_at_ns + f.at_ns * plan.dilation
        timeline.append((t, ports, False))
        if f.kind == "flap":
            up, step = True, f.period_ns * plan.dilation
            while (t := t + step) < until_ns:
                timeline.append((t, ports, up))
                up = not up
    timeline.sort(key=lambda e: e[0])

    def run() -> None:
        for t, ports, up in timeline:
            if stop.wait(max(0.0, (t - time.monotonic_ns()) / 1e9)):
                return
            event = {"t": time.time(), "monotonic_ns": time.monotonic_ns(), "ports": ports,
                     "up": up}  # before the first port moves: the controller may be quick
            _set(ports, up)
            touched.update(ports)
            events.append(event)

    worker = threading.Thread(target=run, name="faults", daemon=True)
    worker.start()
    try:
        yield events
    finally:
        stop.set()
        worker.join()
        _set(sorted(touched), True)


def reroutes(decision_log: Path, events: Sequence[dict[str, Any]]) -> list[float]:
    """For each port event, ms from it until the controller had installed new rules (the
    first ``reroute_installed`` decision after it; barriers acknowledged)."""
    from fabrictwin.controllers.decisions import read_decisions

    if not decision_log.exists():
        return []
    installed = sorted(d["t"] for d in read_decisions(decision_log)
                       if d.get("kind") == "reroute_installed")
    out = []
    for e in events:
        after = [t for t in installed if t >= e["t"] - 0.001]
        if after:
            out.append(round((after[0] - e["t"]) * 1e3, 2))
    return out
