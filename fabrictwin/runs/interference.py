"""Measured interference: a training job's gradient all-reduce and a PD inference service's
KV-cache transfers sharing one fabric, each timed alone and together (root).

The fabric: eight single-GPU DGX H100 slices on a rail-optimized 400G scale-out, four
per leaf, one spine, so each leaf's 1.6 Tb/s of NICs shares 800 Gb/s of uplink (2:1,
as scale-out tiers often are). The training job's data-parallel ranks sit on nodes 0, 1,
4 and 5 (a ring crossing the spine twice); the inference service prefills on nodes 2 and
3 and decodes on 6 and 7, so its KV caches cross the spine too. The lossless class runs
PFC, the senders DCQCN, the controller marks ECN. Each job's time is first byte sent to
last byte landed of its own transfers, in hardware time; its slowdown is together /
alone. ``fabrictwin twin --interference FILE`` applies the slowdowns to the twin's DP
and KV-transfer times, and says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.setup import PfcOptions
from fabrictwin.runs.collective import run_schedule
from fabrictwin.runs.schedules import host_pairs
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.graph import hosts as graph_hosts
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.collectives import kv_transfer, ring_all_reduce
from fabrictwin.traffic.schedule import Schedule, relabel, side_by_side

log = logging.getLogger(__name__)

SPEC = "ai_factory,hypernodes=8,profile=dgx-h100,gpus_per_tray=1,servers_per_group=4,spines=1"
DP_RANKS = (0, 1, 4, 5)
PREFILL, DECODE = ((2,), (3,)), ((6,), (7,))
#: the keys ``fabrictwin twin --interference`` reads
SLOWDOWN_KEYS = ("dp", "kv_transfer")


def jobs(dp_bytes: int, kv_bytes: int, requests: int, ranks: int = 8,
         ) -> tuple[Schedule, Schedule]:
    """The training job's ring all-reduce and the service's KV transfers, on the fabric's
    ranks.

    >>> dp, kv = jobs(1 << 20, 1 << 20, 2)
    >>> sorted({t.src for t in dp.transfers}), sorted({(t.src, t.dst) for t in kv.transfers})
    ([0, 1, 4, 5], [(2, 6), (3, 7)])
    """
    dp = relabel(ring_all_reduce(len(DP_RANKS), dp_bytes), DP_RANKS, ranks)
    kv = kv_transfer([list(g) for g in PREFILL], [list(g) for g in DECODE], requests, kv_bytes)
    return dp, relabel(kv, range(kv.ranks), ranks) if kv.ranks < ranks else kv


def part_time_us(results: Iterable[dict[str, Any]], ids: Iterable[int],
                 dilation: float) -> float | None:
    """First send of transfers ``ids`` to the last of them landing, in hardware us (None
    when one did not complete).

    >>> r = [{"sends": [{"id": 0, "start_ns": 100, "ready_ns": 50}],
    ...       "recvs": [{"id": 0, "finish_ns": 2050, "done": True}]}]
    >>> part_time_us(r, [0], 2.0)
    1.0
    """
    ids = set(ids)
    sends = [s for r in results for s in r["sends"] if s["id"] in ids]
    recvs = [x for r in results for x in r["recvs"] if x["id"] in ids]
    if not recvs or not all(x.get("done") for x in recvs) or not sends:
        return None
    start = min(s.get("ready_ns") or s["start_ns"] for s in sends)
    return (max(x["finish_ns"] for x in recvs) - start) / 1e3 / dilation


def measure(dp_bytes: int, kv_bytes: int, requests: int, out: Path, *, cc: str = "dcqcn",
            dilation: float | None = None,
            progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Both jobs alone, then together, in one bring-up; their times and slowdowns."""
    g = build_topology(SPEC)
    names = graph_hosts(g)
    dp, kv = jobs(dp_bytes, kv_bytes, requests, len(names))
    both, kv_ids = side_by_side(dp, kv)
    dp_ids = [t.id for t in dp.transfers]
    runs: dict[str, dict[str, Any]] = {}

    def inside(emu: Any) -> None:
        d = emu.plan.dilation
        slowest = min(link.rate_bps for link in emu.plan.links)  # dilated
        for label, sched, parts in (("dp alone", dp, {"dp": dp_ids}),
                                    ("kv alone", kv, {"kv_transfer": [t.id for t in
                                                                      kv.transfers]}),
                                    ("together", both, {"dp": dp_ids, "kv_transfer": kv_ids})):
            progress(f"{label}, D {d:.3g}")
            # every byte of the schedule through the slowest link: a generous bound on
            # the agents' wall time, which only sets their timeout
            results, cpu = run_schedule(emu, g, sched, out / label.replace(" ", "-"),
                                         cc=cc, expected_s=8 * sched.total_bytes / slowest)
            lost = sum(x["size_bytes"] - x["bytes_received"] for r in results
                       for x in r["recvs"] if not x["data_ok"])
            started = [s.get("ready_ns") or s["start_ns"] for r in results for s in r["sends"]
                       if s["start_ns"]]
            finished = [x["finish_ns"] for r in results for x in r["recvs"] if x["finish_ns"]]
            busy = cpu.window(min(started), max(finished)) if started and finished else None
            runs[label] = {"lost_bytes": lost,
                           "cpu_bound": bool(busy and busy.cpu_bound),
                           "cpu_limit": busy.limit() if busy else None,
                           "retransmits": sum(r["retransmits"] for r in results),
                           "cnps": sum(r["cnps_sent"] for r in results),
                           "pfc_pauses": sum(r.get("pfc_pauses", 0) for r in results),
                           **{f"{k}_us": part_time_us(results, ids, d)
                              for k, ids in parts.items()}}

    traffic = host_pairs(both, names)
    # the switches' own buffers (Tomahawk 5: ~165 MB, shared): a 1 MB leaf, the emulator's
    # default, makes PFC pause what the hardware would queue
    summary = emulate(g, dilation, traffic=traffic, pfc=PfcOptions(hardware_buffers=True),
                      inside=inside,
                      progress=progress)
    pfc = summary.get("pfc") or {}
    doc: dict[str, Any] = {"spec": SPEC, "dilation": summary["dilation"], "cc": cc,
                           "pfc": {k: pfc.get(k) for k in (
                               "pauses", "lossless_drops", "ovs_port_drops",
                               "ovs_socket_drops", "ovs_datapath_lost")},
                           "dp_bytes": dp_bytes, "kv_bytes": kv_bytes, "requests": requests,
                           "runs": runs, "slowdown": {}, "ok": bool(summary["ok"])}
    for key, alone in (("dp", "dp alone"), ("kv_transfer", "kv alone")):
        a = runs.get(alone, {}).get(f"{key}_us")
        t = runs.get("together", {}).get(f"{key}_us")
        doc["slowdown"][key] = t / a if a and t else None
    # a lossless class that dropped frames measured the transport's recovery, not the
    # hardware's sharing: no slowdown a twin should take
    doc["ok"] = doc["ok"] and all(v is not None for v in doc["slowdown"].values()) and \
        not any(r["lost_bytes"] for r in runs.values()) and not doc["pfc"]["lossless_drops"]
    return doc


def read_slowdowns(path: Path) -> dict[str, float]:
    """The measured slowdowns of an interference run's JSON, checked (one-line errors)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FabricTwinError(f"--interference {path}: {exc}") from None
    slow = doc.get("slowdown") if isinstance(doc, dict) else None
    if not isinstance(slow, dict) or not doc.get("ok"):
        raise FabricTwinError(f"--interference {path}: not a completed interference run "
                              "(fabrictwin experiment interference --out DIR writes one)")
    out = {}
    for key in SLOWDOWN_KEYS:
        v = slow.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e3:
            raise FabricTwinError(f"--interference {path}: slowdown.{key}: expected a "
                                  f"positive number, got {v!r}")
        out[key] = float(v)
    return out
