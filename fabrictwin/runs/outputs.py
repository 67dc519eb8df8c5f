"""What a run leaves for its user: an nccl-tests-style table, JSON, CSV and PNG plots.

``results/<run>/`` holds ``results.json`` (the ``--json`` document), ``results.csv``
(one row per size), ``busbw.png`` (busbw against size) and ``fct.png`` (the flow
completion time distribution), plus whatever pcap sample the run captured.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

log = logging.getLogger(__name__)

#: Columns every result row carries (the issue's contract for --json).
ROW_KEYS = ("size_bytes", "time_us", "algbw_GBps", "busbw_GBps", "lost_bytes", "retransmits",
            "cnps", "ecn_marked", "pfc_pauses")


def nccl_table(collective: str, ranks: int, rows: Sequence[dict[str, Any]]) -> Table:
    """The table nccl-tests prints: size, count, type, time, algbw, busbw, plus losses."""
    t = Table(title=f"{collective} on {ranks} ranks (emulated, in hardware time)",
              caption="time in us, algbw/busbw in GB/s, lost in bytes")
    for col in ("size", "count", "type", "time", "algbw", "busbw", "model time",
                "model busbw", "emu/model", "retx", "lost", "cnps"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        figures = (["[red]FAILED[/red]", "-", "-"] if r["time_us"] is None else
                   [f"{r['time_us']:.2f}", f"{r['algbw_GBps']:.2f}", f"{r['busbw_GBps']:.2f}"])
        model = (["-", "-"] if r.get("model_time_us") is None else
                 [f"{r['model_time_us']:.2f}", f"{r['model_busbw_GBps']:.2f}"])
        ratio = r.get("emulated_vs_model")
        t.add_row(str(r["size_bytes"]), str(r["size_bytes"] // 4), "float", *figures, *model,
                  "-" if ratio is None else f"{ratio:.2f}",
                  str(r["retransmits"]), str(r["lost_bytes"]), str(r["cnps"]))
    return t


#: Emulated / model time beyond which a row is called out as differing from the model.
MODEL_TOLERANCE = 0.10


def model_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Where the emulated rows differ from the model, and what the emulator saw that the
    model assumes away (it has no queues, collisions, pauses or losses)."""
    done = [r for r in rows if r.get("emulated_vs_model") is not None]
    if not done:
        if any(r.get("model_time_us") is None for r in rows):
            return ["model: no hyper-node profile in this topology, so no model figure"]
        return []
    alg = done[0].get("model_algorithm")
    costs = "with endpoint costs" if done[0].get("endpoint_costs") else "wire only"
    out = [f"model: {alg}; emulated {costs}; emulated/model "
           + ", ".join(f"{r['emulated_vs_model']:.2f}" for r in done)]
    for r in done:
        if abs(r["emulated_vs_model"] - 1) <= MODEL_TOLERANCE:
            continue
        seen = [f"{r[k]} {name}" for k, name in (("retransmits", "retransmissions"),
                                                  ("pfc_pauses", "PFC pauses"),
                                                  ("ecn_marked", "ECN marks"),
                                                  ("cnps", "CNPs")) if r.get(k)]
        why = ("; the emulator saw " + ", ".join(seen) + ", which the model assumes away"
               if seen else "; no loss, pause or mark: queueing or path collisions on the wire"
               if r["emulated_vs_model"] > 1 else "")
        if r.get("cpu_bound"):
            why += "; the run was cpu_bound, so the emulated figure is not trustworthy"
        if not r.get("endpoint_costs"):
            why += "; the run timed the wire only (--wire-only)"
        out.append(f"size {r['size_bytes']}: emulated {r['emulated_vs_model']:.2f}x the "
                   f"model's time{why}")
    return out


def failures(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per failed size: what failed, and where."""
    return [f"size {r['size_bytes']}: FAILED: {r['failure']}" for r in rows if r.get("failure")]


def fault_line(r: dict[str, Any]) -> str:
    """One line on what a faulted row's faults cost against its fault-free run.

    >>> print(fault_line({"size_bytes": 1048576, "faults": ["controller@5us/20us"],
    ...     "time_us": 90.0, "fault_free_time_us": 60.0, "fault_slowdown": 1.5,
    ...     "retransmits": 3, "lost_bytes": 0, "pfc_pauses": 0, "reroute_ms": [],
    ...     "controller_outages": [{"down_us": 5.0, "up_us": 20.1, "listening_ms": 900.0,
    ...                             "reprogrammed_ms": 1400.0, "after_size": False}]}))
    1048576 B with controller@5us/20us: 90.0 us against 60.0 us fault-free (x1.50), 3 \
retransmissions, 0 B lost, 0 pauses; reroutes installed after - ms; controller down at \
5.0 us, restarted at 20.1 us, listening after 900.0 ms, every switch programmed after \
1400.0 ms
    """
    with_f = f"{r['time_us']:.1f} us" if r["time_us"] else "FAILED"
    free = r.get("fault_free_time_us")
    line = (f"{r['size_bytes']} B with {', '.join(r['faults'])}: {with_f} against "
            f"{f'{free:.1f} us' if free else '-'} fault-free"
            + (f" (x{r['fault_slowdown']:.2f})" if r.get("fault_slowdown") else "")
            + f", {r['retransmits']} retransmissions, {r['lost_bytes']} B lost, "
            f"{r['pfc_pauses']} pauses; reroutes installed after {r['reroute_ms'] or '-'} ms")
    for o in r.get("controller_outages") or ():
        up = ("restarted after the size" if o["after_size"] else
              f"restarted at {o['up_us']:.1f} us" if o["up_us"] is not None else "not restarted")
        line += f"; controller down at {o['down_us']:.1f} us, {up}"
        if o.get("listening_ms") is not None:
            line += f", listening after {o['listening_ms']:.1f} ms"
        if o.get("reprogrammed_ms") is not None:
            line += f", every switch programmed after {o['reprogrammed_ms']:.1f} ms"
    if r.get("fault_error"):
        line += f"; fault injection failed: {r['fault_error']}"
    return line


def write_outputs(out_dir: Path, document: dict[str, Any]) -> list[Path]:
    """Write results.json, results.csv and the plots; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = document["results"]
    written = [out_dir / "results.json", out_dir / "results.csv"]
    written[0].write_text(json.dumps(document, indent=2))
    keys = list(ROW_KEYS) + sorted({k for r in rows for k in r} - set(ROW_KEYS) - {"fct_us"})
    with written[1].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    written += _plots(out_dir, document)
    return written


def _plots(out_dir: Path, document: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = document["results"]
    done = [r for r in rows if r["busbw_GBps"] is not None]  # a failed size has no figure
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["size_bytes"] for r in done], [r["busbw_GBps"] for r in done], "o-",
            label="emulated (hardware time)")
    for r in rows:
        if r["busbw_GBps"] is None:
            ax.axvline(r["size_bytes"], color="red", ls=":", lw=1)
    if len(done) < len(rows):
        ax.plot([], [], color="red", ls=":", label="FAILED (no figure)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title(f"{document['collective']} on {document['ranks']} ranks, {document['spec']}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "busbw.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    fcts = [x for r in done for x in r.get("fct_us", [])]
    if fcts:
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = sorted(fcts)
        ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))])
        ax.set_xscale("log")
        ax.set_xlabel("flow completion time (us, hardware time)")
        ax.set_ylabel("CDF")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        paths.append(out_dir / "fct.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
