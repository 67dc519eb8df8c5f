"""Tables and the comparison plot of ``fabrictwin twin``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fabrictwin.errors import FabricTwinError

TRAIN = (("step_time_s", "step time (s)", "{:.3f}"), ("tokens_per_s", "tokens/s", "{:,.0f}"),
         ("mfu", "MFU", "{:.1%}"), ("tokens_per_joule", "tokens/J", "{:.3f}"),
         ("bottleneck", "bottleneck", "{}"))
SERVE = (("throughput_tokens_per_s", "tokens/s", "{:,.0f}"),
         ("goodput_tokens_per_s", "goodput tokens/s", "{:,.0f}"),
         ("ttft_ms_p50", "TTFT p50 (ms)", "{:.1f}"), ("ttft_ms_p99", "TTFT p99 (ms)", "{:.1f}"),
         ("tpot_ms_p50", "TPOT p50 (ms)", "{:.2f}"), ("tokens_per_joule", "tokens/J", "{:.3f}"),
         ("kv_transfer_GBps", "KV transfer GB/s", "{:.1f}"),
         ("speedup_vs_colocated", "PD / colocated", "{:.2f}"))


def _fmt(fmt: str, v: Any) -> str:
    return "-" if v is None else fmt.format(v)


def _cols(r: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    return TRAIN if r["kind"] == "training" else SERVE


def print_one(r: dict[str, Any]) -> None:
    t = Table(title=f"{r['workload']} on {r['system']}", show_header=False)
    for key, label, fmt in _cols(r):
        if key in r:
            t.add_row(label, _fmt(fmt, r[key]))
    for tier, s in (r.get("comm_exposed_s") or {}).items():
        t.add_row(f"exposed comm, {tier} (s)", f"{s:.3f}")
    Console().print(t)
    if r.get("interference"):
        Console().print(interference_note(r["interference"]))


def interference_note(i: dict[str, Any]) -> str:
    """One line: which figures carry measured slowdowns, and from where."""
    return (f"measured interference applied (from {i['source']}): DP collectives "
            f"x{i['dp']:.2f}, KV transfers x{i['kv_transfer']:.2f}")


def print_compare(results: list[dict[str, Any]]) -> None:
    cols = _cols(results[0])
    t = Table(title=f"{results[0]['workload']}: systems compared")
    t.add_column("system")
    for _, label, _ in cols:
        t.add_column(label, justify="right")
    for r in results:
        t.add_row(r["system"], *(_fmt(fmt, r.get(key)) for key, _, fmt in cols))
    Console().print(t)
    if results[0].get("interference"):
        Console().print(interference_note(results[0]["interference"]))


def plot_compare(results: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FabricTwinError(f"--out: cannot create {out}: {exc.strerror}") from None
    names = [r["system"] for r in results]
    key = "tokens_per_s" if results[0]["kind"] == "training" else "goodput_tokens_per_s"
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    axes[0].bar(names, [r.get(key) or 0 for r in results])
    axes[0].set_ylabel(key.replace("_", " "))
    axes[1].bar(names, [r.get("tokens_per_joule") or 0 for r in results], color="tab:green")
    axes[1].set_ylabel("tokens per joule")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(results[0]["workload"], fontsize=9)
    fig.tight_layout()
    path = out / f"{results[0]['workload']}-compare.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
