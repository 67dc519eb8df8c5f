"""Plots and tables of the lossless-fabric experiments (:mod:`fabrictwin.runs.lossless`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: columns of the printed table: (key, header, decimals or None for text/integers)
COLUMNS = (("label", "run", None), ("lossless_drops", "drops", None),
           ("pauses", "pauses", None), ("pause_frames", "PFC frames", None),
           ("cnps", "CNPs", None), ("max_queue_bytes", "max queue B", None),
           ("headroom_used", "headroom used", 2),
           ("completion_us", "done (us)", 1), ("retransmits", "resent", None),
           ("psn_errors", "PSN gaps", None))


def table(rows: Sequence[dict[str, Any]], extra: Sequence[tuple[str, str, int | None]] = ()
          ) -> str:
    """A fixed-width text table of ``rows`` (the first column left-aligned)."""
    cols = [*COLUMNS, *extra]

    def cell(v: Any, decimals: int | None) -> str:
        if v is None:
            return "-"
        return f"{v:.{decimals}f}" if decimals is not None and isinstance(v, float) else str(v)

    grid = [[h for _k, h, _d in cols]]
    grid += [[cell(r.get(k, ""), d) for k, _h, d in cols] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(cols))]
    return "\n".join(" ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                      for row in grid)


def flow_rates(result: dict[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """Per sending host: times (s) and goodput (Gb/s, hardware) between rate samples."""
    d = result["dilation"]
    by_host: dict[str, list[tuple[float, int]]] = {}
    for t, host, sent, _rate in result["series"]["rates"]:
        by_host.setdefault(host, []).append((t, sent))
    out = {}
    for host, rows in by_host.items():
        rows.sort()
        ts, gbps = [], []
        for (t0, b0), (t1, b1) in zip(rows, rows[1:], strict=False):
            if t1 > t0:
                ts.append(t1)
                gbps.append((b1 - b0) * 8 / (t1 - t0) * d / 1e9)
        out[host] = (ts, gbps)
    return out


def plot_runs(results: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """One column per run: switch queue, per-flow goodput, paused queues over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, axes = plt.subplots(3, n, figsize=(4.2 * n, 8), squeeze=False, sharex="col")
    for j, r in enumerate(results):
        q = r["series"]["queue"]
        ts = [row[0] for row in q]
        axes[0][j].plot(ts, [row[1] / 1e3 for row in q], color="tab:red")
        axes[0][j].set_title(r.get("label", f"run {j}"))
        for host, (t, g) in sorted(flow_rates(r).items()):
            axes[1][j].plot(t, g, lw=0.8, label=host)
        axes[2][j].step(ts, [row[2] for row in q], where="post", label="queues paused")
        axes[2][j].step(ts, [row[3] for row in q], where="post", label="ports pausing")
        axes[2][j].set_xlabel("emulated time (s)")
    axes[0][0].set_ylabel("switch backlog (KB)")
    axes[1][0].set_ylabel("goodput per sender (Gb/s hw)")
    axes[2][0].set_ylabel("PFC state (ports)")
    axes[1][0].legend(fontsize=6, ncol=2)
    axes[2][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
