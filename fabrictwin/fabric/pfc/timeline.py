"""The PFC daemon's series reduced to a timeline, and what happened inside a time window.

The daemon writes one row per poll (``t_ns`` on CLOCK_MONOTONIC, the clock the endpoint
agents use too), with the ports pausing their upstream at that moment. A run of several
message sizes shares one daemon, so per-size figures come from the window between a
size's first send and last receive.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any


def timeline(series: Iterable[dict[str, Any]]) -> list[list[int]]:
    """``[t_ns, pauses so far, largest port backlog]`` per poll row.

    A pause is a port that starts pausing its upstream (an XOFF): the core decides
    only at polls, so a port new in a row's ``pausing`` is one XOFF."""
    out: list[list[int]] = []
    before: set[str] = set()
    pauses = 0
    for row in series:
        if "backlog" not in row:  # watchdog events share the file
            continue
        now = set(row.get("pausing", ()))
        pauses += len(now - before)
        before = now
        out.append([int(row["t_ns"]), pauses, max(row["backlog"].values(), default=0)])
    return out


def window(tl: list[list[int]], t0_ns: float, t1_ns: float) -> dict[str, int]:
    """Pauses begun and the largest port backlog seen in polls within [t0, t1]."""
    times = [row[0] for row in tl]
    lo, hi = bisect.bisect_left(times, t0_ns), bisect.bisect_right(times, t1_ns)
    if lo >= hi:
        return {"switch_pauses": 0, "max_queue_bytes": 0}
    start = tl[lo - 1][1] if lo else 0
    return {"switch_pauses": tl[hi - 1][1] - start,
            "max_queue_bytes": max(row[2] for row in tl[lo:hi])}
