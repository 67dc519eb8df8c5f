"""The model taught by the emulator: measured tier efficiencies applied to a larger system.

An emulated run measures what the model assumes away on the tier that limited it:
queueing, ECMP collisions, PFC pauses, retransmissions. The measurement is a
*bandwidth efficiency* of that tier: the model's bandwidth time over the emulated
one, after taking off the latency both share (the emulator pays the model's
endpoint costs, :mod:`.emulated`):

    efficiency = (model_time - model_latency) / (emulated_time - model_latency)

From an incast run (N senders into one port, PFC and DCQCN as configured) it is the
receiver's goodput over its link's payload rate. A calibrated system is the ideal one
with that tier's payload rates multiplied by the efficiency; every other figure (the
other tiers, latencies, the launch) stays the model's, and :class:`Measurement` says
where each measured figure came from.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.system import TIER_NAMES, System, roce_efficiency


@dataclass(frozen=True)
class Measurement:
    """A measured bandwidth efficiency of one tier, and the evidence behind it."""

    tier: str
    efficiency: float
    source: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> float:
        """What the projection applies: a run no slower than the model (efficiency above
        1, within the emulator's noise) keeps the model's ideal rate, and says so
        (:attr:`note`); a projection never beats the hardware's ideal."""
        return min(self.efficiency, 1.0)

    @property
    def note(self) -> str:
        if self.efficiency <= 1.0:
            return f"{self.tier} payload rate x {self.efficiency:.3f}"
        return (f"{self.tier} payload rate x 1 (measured {self.efficiency:.3f}: no slower "
                "than the model, whose ideal rate is kept)")


def efficiency_of_rows(rows: Sequence[Mapping[str, Any]],
                       latency_us: Sequence[float]) -> tuple[float, list[float]]:
    """Median bandwidth efficiency of completed rows, given the model's latency term of
    each (us); also each row's value. Rows with no bandwidth time left are skipped.

    >>> rows = [{"ok": True, "time_us": 30.0, "model_time_us": 20.0}]
    >>> efficiency_of_rows(rows, [10.0])
    (0.5, [0.5])
    """
    each = []
    for r, lat in zip(rows, latency_us, strict=True):
        if not r.get("ok") or r.get("time_us") is None or r.get("model_time_us") is None:
            continue
        model_bw, emulated_bw = r["model_time_us"] - lat, r["time_us"] - lat
        if model_bw > 0 and emulated_bw > 0:
            each.append(model_bw / emulated_bw)
    if not each:
        raise FabricTwinError("from-run: no completed row with a bandwidth term to measure "
                              "(every size failed, or the run had no model figures)")
    return statistics.median(each), each


def collective_measurement(doc: Mapping[str, Any], tier: str,
                           latency_us: Sequence[float]) -> Measurement:
    """What a ``fabrictwin run`` document measured of ``tier`` (its model's bottleneck)."""
    rows = doc.get("results", [])
    eff, each = efficiency_of_rows(rows, latency_us)
    ok = [r for r in rows if r.get("ok")]
    evidence = {
        "sizes": [r["size_bytes"] for r in ok],
        "emulated_vs_model": [round(r["emulated_vs_model"], 3) for r in ok
                              if r.get("emulated_vs_model") is not None],
        "per_size_efficiency": [round(e, 3) for e in each],
        "retransmits": sum(r.get("retransmits", 0) for r in rows),
        "pfc_pauses": sum(r.get("pfc_pauses", 0) for r in rows),
        "ecn_marked": sum(r.get("ecn_marked", 0) for r in rows),
        "cpu_bound": any(r.get("cpu_bound") for r in rows),
        "endpoint_costs": all(r.get("endpoint_costs") for r in ok),
    }
    return Measurement(tier, eff, f"{doc.get('collective')} on {doc.get('spec')} "
                       f"({len(ok)} sizes, median of each size's efficiency)", evidence)


def incast_measurement(run: Mapping[str, Any], line_bps: float, mtu_bytes: int) -> Measurement:
    """What an incast run measured of the scale-out tier: goodput into the receiver over
    its link's payload rate (line rate x RoCEv2 efficiency at the MTU).

    >>> run = {"spec": {"senders": 2, "bytes_per_sender": 1000}, "completion_us": 0.1,
    ...        "data_ok": True, "pauses": 3, "retransmits": 0, "pfc": "on", "dcqcn": "off"}
    >>> m = incast_measurement(run, 200e9, 4200)
    >>> round(m.efficiency, 3)  # 160 Gb/s of 200G x 4096/4178
    0.816
    """
    if not run.get("data_ok") or not run.get("completion_us"):
        raise FabricTwinError("from-run: the incast did not complete with every byte; "
                              "it measured no efficiency")
    spec = run["spec"]
    goodput = spec["senders"] * spec["bytes_per_sender"] * 8 / (run["completion_us"] * 1e-6)
    eff = goodput / (line_bps * roce_efficiency(mtu_bytes))
    evidence = {k: run.get(k) for k in ("pauses", "retransmits", "psn_errors", "cnps",
                                         "max_queue_bytes", "headroom_used", "pfc", "dcqcn")}
    evidence["goodput_Gbps"] = round(goodput / 1e9, 3)
    return Measurement("scale-out", eff, f"{spec['senders']}:1 incast on {run.get('topology')} "
                       f"(PFC {run.get('pfc')}, DCQCN {run.get('dcqcn')})", evidence)


def calibrate(system: System, measurements: Sequence[Measurement]) -> System:
    """``system`` with each measured tier's payload rates scaled by its efficiency.

    A tier the system does not have (a measurement of scale-out applied to one
    hyper-node) is refused rather than dropped.
    """
    tiers = list(system.tiers)
    names = [t.name for t in tiers]
    for m in measurements:
        if m.tier not in TIER_NAMES:
            raise FabricTwinError(f"from-run: unknown tier {m.tier!r}")
        if m.tier not in names:
            raise FabricTwinError(f"from-run: the run measured the {m.tier} tier, which a "
                                  f"system of {system.ranks} GPUs on {len(names)} tier(s) "
                                  "does not have; give more --nodes (or --dcs)")
        if not m.efficiency > 0:
            raise FabricTwinError(f"from-run: efficiency of {m.tier} must be positive, "
                                  f"got {m.efficiency}")
        i = names.index(m.tier)
        t = tiers[i]
        eff = m.applied
        tiers[i] = replace(t, payload_bps=t.payload_bps * eff,
                           rank_payload_bps=t.rank_payload_bps * eff)
    return replace(system, tiers=tuple(tiers))
