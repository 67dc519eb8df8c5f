"""Dilation from what a run moves: the load its routed schedule puts on each link (pure).

A collective's schedule and the plan's routes are known before bring-up, so the load on
every link direction, step by step, is too. Per step, each sender's transfers share its
interface's hardware rate (a GPU reaching a peer over several switch chips stripes over
all of them, in proportion to their rates); a transfer then runs at its share of the
tightest link on its path (each transfer on an oversubscribed link gets its demand's
share of the link's rate), and every link direction it crosses carries that. Two limits
then set D:

- the busiest link direction at ``link_share`` of one hop's forwarding rate (one
  userspace switch port forwards it), and
- the machine's total: the sum of the per-direction loads / 2 at ``total_share`` of one
  hop's rate. Halving makes it the same measure as the sum of link rates the loaded
  share was calibrated on (a ring loads each link once up and once down).

The peak step sets D, so a run that only crosses NICs and a DCI (pipeline send/recv, a
gradient sync across DCs) gets a D a 2-core machine can carry, instead of one sized for
every link of the fabric at once, and long-haul distances stay short in wall time.
The rates are those once congestion control or pauses have acted: a step's first
window leaves at line rate, a burst the emulator's queues absorb.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import EmulationPlan, frame_path

#: A directed link: (the sending interface, the receiving interface).
Direction = tuple[str, str]


@dataclass(frozen=True)
class DilationChoice:
    """D and what set it, for the run's report."""

    dilation: float
    step: int               # the schedule step with the peak load
    total_bps: float        # the machine's load in that step (hardware rate, see module)
    busiest: Direction      # the busiest link direction over all steps
    busiest_bps: float
    set_by: str             # one line: which limit set D

    def as_dict(self) -> dict[str, object]:
        return {"dilation": self.dilation, "step": self.step, "total_bps": self.total_bps,
                "busiest_link": " > ".join(self.busiest), "busiest_bps": self.busiest_bps,
                "set_by": self.set_by}


class _Routes:
    """Host interfaces, plane shares and frame paths of a plan, memoised."""

    def __init__(self, plan: EmulationPlan) -> None:
        self.plan = plan
        self.rate = {}
        for link in plan.links:
            self.rate[link.intf_u, link.intf_v] = link.hw_rate_bps
            self.rate[link.intf_v, link.intf_u] = link.hw_rate_bps
        self.hosts = {h.name: h for h in plan.hosts}
        self.ip = {h.name: h.ip for h in plan.hosts}
        self._paths: dict[tuple[str, str], list[Direction]] = {}
        self._out: dict[tuple[str, str], list[tuple[str, float]]] = {}

    def out(self, src: str, dst: str) -> list[tuple[str, float]]:
        """(interface, share of the transfer) the source sends ``dst``'s frames on."""
        key = (src, dst)
        if key not in self._out:
            h, ip = self.hosts[src], self.ip[dst]
            planes = dict(h.planes).get(ip)
            if planes:
                total = sum(r for _i, _p, r in planes)
                self._out[key] = [(intf, r / total) for intf, _p, r in planes]
            else:
                intf = next((i for d, _m, i in h.routes if d == ip), None)
                if intf is None:
                    raise FabricTwinError(f"{src} has no route to {dst}")
                self._out[key] = [(intf, 1.0)]
        return self._out[key]

    def path(self, intf: str, dst: str) -> list[Direction]:
        key = (intf, dst)
        if key not in self._paths:
            hops = frame_path(self.plan, intf, dst)
            if hops[-1].endswith(": no rule"):
                raise FabricTwinError(f"no route from {intf} to {dst}: {' > '.join(hops)}")
            self._paths[key] = list(zip(hops[0::2], hops[1::2], strict=False))
        return self._paths[key]


def step_loads(plan: EmulationPlan, steps: Iterable[Sequence[tuple[str, str]]],
               ) -> list[dict[Direction, float]]:
    """Hardware bits/s on each link direction, per step of (source host, destination host)
    transfers (see the module docstring for how transfers share and are capped)."""
    routes = _Routes(plan)
    out = []
    for transfers in steps:
        # what each sending interface is asked for: its transfers split its rate evenly
        asked: dict[str, list[tuple[str, float]]] = {}
        for src, dst in transfers:
            for intf, share in routes.out(src, dst):
                asked.setdefault(intf, []).append((dst, share))
        flows: list[tuple[list[Direction], float]] = []
        for intf, wants in asked.items():
            first = routes.path(intf, wants[0][0])[0]
            each = routes.rate[first] / len(wants)
            # a plane's part of a striped transfer is sized by that plane's rate: the
            # interface's rate is its whole demand
            flows += [(routes.path(intf, dst), each) for dst, _share in wants]
        demand: dict[Direction, float] = {}
        for path, bps in flows:
            for d in path:
                demand[d] = demand.get(d, 0.0) + bps
        load: dict[Direction, float] = {}
        for path, bps in flows:  # at its share of the tightest link on its path
            rate = bps * min(min(1.0, routes.rate[d] / demand[d]) for d in path)
            for d in path:
                load[d] = load.get(d, 0.0) + rate
        out.append(load)
    return out


def dilation_for_traffic(plan: EmulationPlan, steps: Sequence[Sequence[tuple[str, str]]],
                         machine_rate_bps: float, *, link_share: float = 0.5,
                         total_share: float = 0.05) -> DilationChoice:
    """The smallest D >= 1 that keeps every step's load within what the machine forwards.

    ``plan`` may be planned at any D: only its routes and hardware rates are read.
    """
    if not machine_rate_bps > 0:
        raise FabricTwinError(f"machine forwarding rate must be positive, got {machine_rate_bps}")
    loads = step_loads(plan, steps)
    if not any(loads):
        raise FabricTwinError("the run moves no data: no dilation to choose")
    totals = [sum(step.values()) / 2 for step in loads]
    peak = max(range(len(loads)), key=totals.__getitem__)
    busiest, busiest_bps = max(((d, bps) for step in loads for d, bps in step.items()),
                               key=lambda item: item[1])
    by_total = totals[peak] / (machine_rate_bps * total_share)
    by_link = busiest_bps / (machine_rate_bps * link_share)
    if by_total >= by_link:
        why = (f"the machine's total in step {peak}: {totals[peak] / 1e12:.3g} Tb/s on "
               f"{len(loads[peak])} link directions")
    else:
        why = f"link {' > '.join(busiest)} at {busiest_bps / 1e9:.4g} Gb/s"
    return DilationChoice(max(1.0, by_total, by_link), peak, totals[peak], busiest,
                          busiest_bps, why)
