"""A PFC storm from a misbehaving receiver, with and without the PFC watchdog: the runs
of ``fabrictwin experiment pfc-storm`` on the plumbing of :mod:`fabrictwin.runs.lossless`.

The fabric of the incast, with two senders writing 2 MiB each to the receiver (still
sending when the storm begins 0.1 s in: light enough that only the storm trips the
watchdog) plus an innocent 1 MiB flow between two other leaves (the victim flow).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.runs.lossless import IncastSpec, run_labelled

#: the table's extra columns: (key, header, decimals)
EXTRA = (("watchdog_delay_us", "watchdog after (us)", 1),
         ("victim_Gbps", "innocent flow Gb/s", 1))
#: what ``--json`` prints of each run
BRIEF = ("label", "watchdog_delay_us", "victim_Gbps", "pauses", "lossless_drops",
         "watchdog_events")


def storm_runs(storm_s: float, detect_us: float, restore_us: float,
               action: str = "drop") -> list[tuple[str, IncastSpec]]:
    """The two labelled runs: no watchdog, and a watchdog that stops honouring PAUSE
    after ``detect_us`` and ``action``s the stormer's lossless traffic for ``restore_us``
    (hardware time: both are scaled by the dilation)."""
    if not storm_s > 0:
        raise FabricTwinError(f"--storm-s must be positive, got {storm_s:g}")
    for name, v in (("--detect-us", detect_us), ("--restore-us", restore_us)):
        if not 0 < v < math.inf:  # also NaN
            raise FabricTwinError(f"{name} must be positive and finite, got {v:g}")
    base = IncastSpec(senders=2, bytes_per_sender=2 << 20, victim_bytes=1 << 20,
                      storm_s=storm_s, storm_delay_s=0.1)
    wd = Watchdog(detect_us * 1e3 * base.dilation, restore_us * 1e3 * base.dilation, action)
    return [(label, replace(base, watchdog=watchdog))
            for label, watchdog in (("no watchdog", None), (f"watchdog {action}", wd))]


def watchdog_delays(result: dict[str, Any]) -> list[int]:
    """Emulated ns from a queue's pause to the watchdog breaking it, per trigger."""
    return [e["t_ns"] - e["paused_since_ns"] for e in result.get("watchdog_events", [])
            if e["kind"] == "triggered"]


def run_pfc_storm(runs: list[tuple[str, IncastSpec]],
                  progress: Callable[[str, str], None] = lambda _l, _m: None,
                  ) -> list[dict[str, Any]]:
    """:func:`~fabrictwin.runs.lossless.run_labelled`, each result with the innocent
    flow's throughput (``victim_Gbps``, hardware) and the watchdog's first trigger delay
    (``watchdog_delay_us``, hardware; ``-`` when it never triggered)."""
    results = run_labelled(runs, progress)
    for r in results:
        delays = watchdog_delays(r)
        r.update(victim_Gbps=r["victim"]["throughput_Gbps"],
                 watchdog_delay_us=delays[0] / 1e3 / r["dilation"] if delays else "-")
    return results


def brief(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``--json`` prints: the :data:`BRIEF` figures of each run."""
    return [{k: r[k] for k in BRIEF} for r in results]
