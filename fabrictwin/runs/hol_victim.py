"""Head-of-line blocking of a victim flow that shares only one uplink with an incast:
the runs of ``fabrictwin experiment hol-victim`` on the plumbing of
:mod:`fabrictwin.runs.lossless`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fabrictwin.runs.lossless import IncastSpec, run_labelled

#: the victim's size
VICTIM_BYTES = 256 * 1024
#: the table's extra columns: (key, header, decimals)
EXTRA = (("victim_Gbps", "victim Gb/s", 1), ("victim_paused_s", "victim paused s", 2))


def hol_runs(senders: int = 8) -> list[tuple[str, IncastSpec]]:
    """The three labelled runs: the victim alone (beside one 4 KB sender), the victim
    beside an incast of ``senders`` with PFC on, and with PFC + DCQCN."""
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("victim alone", dict(senders=1, bytes_per_sender=4096)),
        ("incast, PFC", dict(senders=senders)),
        ("incast, PFC+DCQCN", dict(senders=senders, dcqcn=True, cnp_interval_us=5.0)))
    return [(label, IncastSpec(victim_bytes=VICTIM_BYTES, **kw)) for label, kw in runs]


def run_hol_victim(runs: list[tuple[str, IncastSpec]],
                   progress: Callable[[str, str], None] = lambda _l, _m: None,
                   ) -> list[dict[str, Any]]:
    """:func:`~fabrictwin.runs.lossless.run_labelled`, each result with the victim's
    throughput (``victim_Gbps``, hardware) and time paused (``victim_paused_s``)."""
    results = run_labelled(runs, progress)
    for r in results:
        r.update(victim_Gbps=r["victim"]["throughput_Gbps"],
                 victim_paused_s=r["victim"]["paused_s"])
    return results


def brief(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``--json`` prints: per run its label, the victim's figures, pauses, drops."""
    return [{"label": r["label"], **r["victim"], "pauses": r["pauses"],
             "lossless_drops": r["lossless_drops"]} for r in results]
