"""Scale-across: a gradient all-reduce between two DCs at several distances, under each
congestion-control variant, lossless over the DCI where its PFC headroom fits (root).

The fabric: two DCs of four single-GPU hyper-nodes (rail-optimized 400G, two spines, a DCI router
per DC, one 400ZR link across). The hierarchical all-reduce reduce-scatters inside each
DC, then the four rank pairs exchange across the DCI at once: 4 x 400G into one 400G
link, the DCI router's queue is where congestion control acts. Every distance's run
gets its D from its routed load (:mod:`fabrictwin.fabric.load`), so 100 km stays
minutes of wall time. Each row stands beside the model's figure for the same case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabrictwin.fabric.pfc.setup import DCI_TIER, PfcOptions
from fabrictwin.hardware.dci_headroom import dci_headroom, lossless_reach_m
from fabrictwin.runs.collective import run_sizes
from fabrictwin.runs.schedules import traffic_of
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.graph import dci_routers
from fabrictwin.topologies.registry import build_topology

log = logging.getLogger(__name__)

SPEC = ("ai_factory,hypernodes=4,dcs=2,profile=dgx-h100,gpus_per_tray=1,spines=2,distance_km={km:g}"
        ",dci={dci}")
COLLECTIVE, ALGORITHM = "all_reduce", "hierarchical"
#: the figures every row carries (``--json``)
FIELDS = ("distance_km", "cc", "dci_class", "busbw_GBps", "time_us", "model_busbw_GBps",
          "emulated_vs_model", "lost_bytes", "retransmits", "pfc_pauses", "max_queue_bytes",
          "dci_queue_bytes", "cnps", "ecn_marked", "dilation", "ok", "failure", "wall_s")


@dataclass(frozen=True)
class Case:
    distance_km: float
    cc: str
    dci: str = "zr400"

    @property
    def spec(self) -> str:
        return SPEC.format(km=self.distance_km, dci=self.dci)


def cases(distances_km: Sequence[float], ccs: Sequence[str], dci: str = "zr400") -> list[Case]:
    """Every (distance, variant), nearest first; distances checked against the DCI's reach
    by building each fabric now, before anything runs."""
    out = [Case(km, cc, dci) for km in sorted(distances_km) for cc in ccs]
    for case in {c.spec: c for c in out}.values():
        build_topology(case.spec)
    return out


def dci_class(g: Any, buffer_bytes: int) -> tuple[PfcOptions, str]:
    """PFC options for ``g``: lossless over the DCI when the DCI routers' buffers hold the
    headroom its length needs in hardware (:mod:`fabrictwin.hardware.dci_headroom`),
    else the DCI class without PFC, saying why in one line."""
    lossless = PfcOptions(buffer_bytes=buffer_bytes)
    dci = g.graph["hardware"]["dci"]
    km = g.graph["distance_m"] / 1e3
    for router in sorted(dci_routers(g)):
        data = g.nodes[router]
        if not data.get("buffer_bytes"):
            continue
        ports = g.degree(router)
        reach = lossless_reach_m(dci, int(data["buffer_bytes"]), ports)
        if g.graph["distance_m"] > reach:
            need = dci_headroom(dci, g.graph["distance_m"]).total_bytes
            return (PfcOptions(buffer_bytes=buffer_bytes, lossy_tiers=(DCI_TIER,)),
                    f"lossy: {km:g} km of {dci.name} needs {need / 1e6:.3g} MB of PFC "
                    f"headroom per port; {router}'s {data['buffer_bytes'] / 1e6:.3g} MB over "
                    f"{ports} lossless ports reaches {reach / 1e3:.3g} km, so the DCI class "
                    "runs without PFC (losses recovered by the transport)")
    return lossless, "lossless"


def run_case(case: Case, size_bytes: int, out: Path, *, buffer_bytes: int = 1_000_000,
             progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """One distance and variant: the all-reduce's row with the run's PFC and queue counters."""
    g = build_topology(case.spec)
    pfc, klass = dci_class(g, buffer_bytes)
    if klass != "lossless":
        progress(klass)
    rows: list[dict[str, Any]] = []
    run_dir = out / f"{case.distance_km:g}km-{case.cc}"

    def inside(emu: Any) -> None:
        progress(f"all-reduce of {size_bytes} B across the DCI, D {emu.plan.dilation:.3g}")
        rows.extend(run_sizes(emu, g, COLLECTIVE, ALGORITHM, [size_bytes], run_dir,
                              cc=case.cc))

    t0 = time.perf_counter()
    summary = emulate(g, None, traffic=traffic_of(g, COLLECTIVE, ALGORITHM, size_bytes),
                      pfc=pfc, inside=inside, progress=progress)
    pfc_doc = summary.get("pfc") or {}
    queues = pfc_doc.get("max_switch_backlog_bytes") or {}
    routers = dci_routers(g)
    row = rows[0] if rows else {"ok": False, "failure": "the emulation did not come up"}
    return {"distance_km": case.distance_km, "cc": case.cc, "dci_class": klass,
            "dilation": summary["dilation"], "wall_s": round(time.perf_counter() - t0, 1),
            # the deepest switch queue, and the DCI routers' (where the 4:1 meets the DCI)
            "max_queue_bytes": max(queues.values(), default=None),
            "dci_queue_bytes": max((b for sw, b in queues.items() if sw in routers),
                                   default=None),
            **{k: row.get(k) for k in FIELDS if k in row and k != "pfc_pauses"},
            "pfc_pauses": pfc_doc.get("pauses", 0),
            "emulation_ok": summary["ok"]}


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """busbw and the largest switch queue against distance, one line per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bw, q) = plt.subplots(1, 2, figsize=(10, 4))
    for cc in dict.fromkeys(r["cc"] for r in rows):
        mine = [r for r in rows if r["cc"] == cc]
        km = [r["distance_km"] for r in mine]
        bw.plot(km, [r.get("busbw_GBps") or float("nan") for r in mine], "o-", label=cc)
        q.plot(km, [(r.get("max_queue_bytes") or 0) / 1e6 for r in mine], "o-", label=cc)
    model = {r["distance_km"]: r.get("model_busbw_GBps") for r in rows}
    bw.plot(list(model), [v or float("nan") for v in model.values()], "k--", label="model")
    for ax, label in ((bw, "busbw (GB/s)"), (q, "largest switch queue (MB)")):
        ax.set_xscale("log")
        ax.set_xlabel("DCI distance (km)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("all-reduce across two DCs: 4 x 400G into one 400ZR DCI")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
