"""What faults cost a collective: one size fault-free, then once per fault, in one bring-up
(root).

:func:`standard_faults` picks a few faults for any topology with a scale-out tier: the
first GPU's scale-out link down, the same link flapping, a spine (else a leaf) failing,
1% loss and 0.5% corruption on that link, and the controller killed and restarted. Every
faulted run is a :func:`fabrictwin.runs.collective.measure` row (the same row ``fabrictwin
run --fault`` prints) beside the fault-free one: its slowdown, retransmissions, reroute
times, lost bytes, pauses and the model's time. A fault that stops the collective gives a
failed row (no time) and the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.collective import measure, with_baseline
from fabrictwin.runs.faults import Fault, parse_faults
from fabrictwin.runs.schedules import model_of, resolve_algorithm, traffic_of
from fabrictwin.runs.session import emulate
from fabrictwin.topologies.graph import hosts as graph_hosts

#: the row's columns the table and JSON keep (beside the fault's label and spec)
COLUMNS = ("ok", "failure", "time_us", "fault_free_time_us", "fault_slowdown", "retransmits",
           "icrc_errors", "reroute_ms", "lost_bytes", "pfc_pauses", "model_time_us",
           "emulated_vs_model", "controller_outages", "fault_filters", "fault_events",
           "fault_error", "cpu_bound", "busbw_GBps")


def default_at_us(g: nx.Graph, collective: str, algorithm: str, size_bytes: int) -> float:
    """A quarter of the model's time for the case, in hardware us (faults strike while
    data moves), at least 1 us."""
    hosts = graph_hosts(g)
    model = model_of(g, hosts, collective, resolve_algorithm(collective, algorithm),
                     size_bytes)
    return max(1.0, round(float(model.time_s[0]) * 1e6 / 4, 1))


def standard_faults(g: nx.Graph, at_us: float) -> list[tuple[str, str]]:
    """(label, spec) of the standard faults on ``g``, ``at_us`` hardware us in.

    >>> from fabrictwin.topologies.registry import build_topology
    >>> g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    >>> for label, spec in standard_faults(g, 10):
    ...     print(f"{label}: {spec}")
    scale-out link down: link:d0n0g0-d0l0r0@10us
    scale-out link flap: flap:d0n0g0-d0l0r0@10us/20us
    spine down: switch:d0s0@10us
    1% loss: loss:d0n0g0-d0l0r0@10us/1%
    0.5% corruption: corrupt:d0n0g0-d0l0r0@10us/0.5%
    controller restart: controller@10us/20us
    """
    at = f"{at_us:g}us"
    twice = f"{2 * at_us:g}us"
    host = graph_hosts(g)[0]
    uplinks = [v for v in g[host] if g.edges[host, v].get("tier") != "scale-up"
               and g.nodes[v].get("kind") == "switch"]
    if not uplinks:
        raise FabricTwinError(f"{g.graph.get('spec', 'the topology')}: {host} has no "
                              "scale-out link to fault (the standard faults need one)")
    link = f"{host}-{uplinks[0]}"
    roles = {n: d.get("role") for n, d in g.nodes(data=True) if d.get("kind") == "switch"}
    spines = [n for n, r in roles.items() if r == "spine"]
    switch = spines[0] if spines else uplinks[0]
    return [("scale-out link down", f"link:{link}@{at}"),
            ("scale-out link flap", f"flap:{link}@{at}/{twice}"),
            (f"{'spine' if spines else roles.get(switch) or 'switch'} down",
             f"switch:{switch}@{at}"),
            ("1% loss", f"loss:{link}@{at}/1%"),
            ("0.5% corruption", f"corrupt:{link}@{at}/0.5%"),
            ("controller restart", f"controller@{at}/{twice}")]


def check_faults(g: nx.Graph, labelled: Sequence[tuple[str, str]], *, controller: bool = True,
                 ) -> list[tuple[str, Fault]]:
    """Every (label, spec) parsed against ``g`` before anything is built."""
    faults = parse_faults([spec for _, spec in labelled], g, controller=controller)
    return [(label, f) for (label, _), f in zip(labelled, faults, strict=True)]


def brief(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of a measured row the experiment keeps."""
    return {k: row.get(k) for k in COLUMNS}


def measure_faults(g: nx.Graph, collective: str, algorithm: str, size_bytes: int,
                   faults: Sequence[tuple[str, Fault]], out: Path, *,
                   dilation: float | None = None, policy: Path | None = None, pfc: Any = None,
                   cc: str | None = None,
                   progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """One bring-up: the collective fault-free, then once with each fault; the document."""
    rows: list[dict[str, Any]] = []

    def inside(emu: Any) -> None:
        progress(f"fault-free, D {emu.plan.dilation:.3g}")
        base = measure(emu, g, collective, algorithm, size_bytes, out / "fault-free", cc=cc)
        rows.append({"fault": "none", "spec": None, **brief(base)})
        for i, (label, f) in enumerate(faults):
            progress(f"{label} ({f.spec})")
            row = measure(emu, g, collective, algorithm, size_bytes, out / f"fault-{i}",
                          cc=cc, faults=[f])
            rows.append({"fault": label, "spec": f.spec, **brief(with_baseline(row, base))})

    traffic = traffic_of(g, collective, resolve_algorithm(collective, algorithm), size_bytes)
    summary = emulate(g, dilation, traffic=traffic, policy=policy, pfc=pfc, inside=inside,
                      progress=progress)
    return document(g, collective, algorithm, size_bytes, summary, rows)


def document(g: nx.Graph, collective: str, algorithm: str, size_bytes: int,
             summary: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``faults.json``: the case, the emulation's verdict, one row per run. ``ok`` only
    when every run (fault-free and each fault) completed."""
    return {"spec": g.graph.get("spec"), "collective": collective, "algorithm": algorithm,
            "size_bytes": size_bytes, "dilation": summary.get("dilation"),
            "emulation_ok": bool(summary.get("ok")), "rows": rows,
            "completed": sum(1 for r in rows if r["ok"]), "runs": len(rows),
            "ok": bool(summary.get("ok")) and bool(rows) and all(r["ok"] for r in rows)}


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table_lines(doc: dict[str, Any]) -> list[str]:
    """The what-if table: one line per run; a failed run shows FAILED (no time) and, below
    the table, why."""
    head = (f"{'fault':<20} {'spec':<24} {'time us':>9} {'slowdown':>8} {'retx':>5} "
            f"{'reroute ms':>11} {'lost B':>7} {'pauses':>7} {'model us':>9}")
    lines, notes = [head], []
    for r in doc["rows"]:
        time_text = _num(r["time_us"], ".1f") if r["ok"] else "FAILED"
        reroute = ",".join(f"{v:g}" for v in r.get("reroute_ms") or ()) or "-"
        lines.append(f"{r['fault']:<20} {r['spec'] or '-':<24} {time_text:>9} "
                     f"{_num(r.get('fault_slowdown'), '.2f'):>8} {r['retransmits']:>5} "
                     f"{reroute:>11} {r['lost_bytes']:>7} {r['pfc_pauses']:>7} "
                     f"{_num(r.get('model_time_us'), '.1f'):>9}")
        if not r["ok"]:
            notes.append(f"  {r['fault']}: {r.get('failure') or 'did not complete'}")
    return lines + notes


def plot(doc: dict[str, Any], path: Path) -> Path:
    """A bar of slowdown against the fault-free run per fault; a failed one is a hatched
    stub marked FAILED."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in doc["rows"] if r["spec"]]
    labels = [r["fault"] for r in rows]
    values = [r.get("fault_slowdown") or 0.0 for r in rows]
    top = max([1.0, *values])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows)), 4))
    for i, (r, v) in enumerate(zip(rows, values, strict=True)):
        if r["ok"] and v:
            ax.bar(i, v, color="tab:blue")
            ax.text(i, v, f"x{v:.2f}", ha="center", va="bottom", fontsize=8)
        else:
            ax.bar(i, 0.05 * top, color="none", edgecolor="tab:red", hatch="//")
            ax.text(i, 0.06 * top, "FAILED", ha="center", va="bottom", color="tab:red",
                    fontsize=8)
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="fault-free")
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("time / fault-free time")
    ax.set_title(f"{doc['collective']} of {doc['size_bytes']} B on {doc['spec']}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
