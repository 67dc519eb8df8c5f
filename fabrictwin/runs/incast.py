"""N:1 incast of the lossless class, PFC and DCQCN on or off: the runs of
``fabrictwin experiment incast`` (one run, ``--compare`` or ``--compare-alpha``) on the
plumbing of :mod:`fabrictwin.runs.lossless`."""

from __future__ import annotations

from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.lossless import IncastSpec

#: what ``--json`` prints of each run
BRIEF = ("lossless_drops", "pauses", "pause_frames", "cnps", "max_queue_bytes",
         "headroom_used", "completion_us", "retransmits", "psn_errors", "ovs_port_drops",
         "ovs_socket_drops", "ovs_datapath_lost", "data_ok", "pfc", "dcqcn")


def incast_label(pfc: bool, dcqcn: bool, alpha: float | None) -> str:
    """``PFC on + DCQCN``, ``PFC on, alpha 0.125``, ``PFC off``, ..."""
    return (f"PFC {'on' if pfc else 'off'}" + (" + DCQCN" if dcqcn else "")
            + ("" if alpha is None or not pfc else f", alpha {alpha:g}"))


def incast_runs(senders: int, bytes_per_sender: int, *, pfc: bool = True, dcqcn: bool = False,
                alpha: float | None = None, cnp_interval_us: float = 5.0,
                compare: bool = False, compare_alpha: bool = False,
                ) -> list[tuple[str, IncastSpec]]:
    """The labelled runs: one with ``pfc``, ``dcqcn`` and ``alpha``; with ``compare``
    PFC off, on, on + DCQCN; with ``compare_alpha`` static thresholds, alpha 1/8 and
    alpha 1 (PFC on, DCQCN off). Every spec is checked here, before any run."""
    if compare and compare_alpha:
        raise FabricTwinError("--compare and --compare-alpha: one at a time")
    if alpha is not None and (compare or compare_alpha or not pfc):
        raise FabricTwinError("--alpha sets the thresholds of one run with PFC on: "
                              "not with --compare, --compare-alpha or --pfc off")
    settings = ([(False, False, None), (True, False, None), (True, True, None)] if compare
                else [(True, False, a) for a in (None, 0.125, 1.0)] if compare_alpha
                else [(pfc, dcqcn, alpha)])
    return [(incast_label(p, d, a),
             IncastSpec(senders=senders, bytes_per_sender=bytes_per_sender, pfc=p, dcqcn=d,
                        cnp_interval_us=cnp_interval_us, alpha=a))
            for p, d, a in settings]


def brief(results: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """What ``--json`` prints: the :data:`BRIEF` figures of the run, or of each run."""
    rows = [{k: r[k] for k in BRIEF} for r in results]
    return rows[0] if len(rows) == 1 else rows
