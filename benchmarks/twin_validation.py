"""Validation of the workload twin (``fabrictwin twin``) against published results.

Each row of ``data/twin_published.csv`` is a figure printed in a paper, a vendor's
documentation or a benchmark repository (sources and exact setups in
``data/twin_sources.md``), and the workload YAML under ``data/twin_workloads/`` that
describes its setup as the twin's inputs (a row may override keys, e.g.
``training.dp=8``). The twin is not fitted to these rows: compute and memory efficiency
are the spec's documented defaults for every row (training 0.5 of peak; serving 0.5 of
peak, 0.8 of HBM bandwidth), and the script refuses a workload that sets them.

Metrics: training step time, MFU, tokens/s per GPU; serving output tokens/s at
saturation (``max_``: the highest Poisson rate the twin does not call overloaded) or at a
fixed concurrency (``closed_``), first-token latency at light load, goodput at 90% SLO
attainment; KV-transfer bandwidth and size; PD / colocated ratios, whose sign (does
separating prefill and decode win or lose) is checked apart. Errors are as times
(``+`` = the twin is slower, smaller or later than published): for a time, (twin -
published) / published; for a rate or ratio, published / twin - 1. Rows the twin cannot
describe are listed as out of scope with the reason. Prints per-category and overall
median absolute errors, the PD sign check, then ``median_abs_error=<pct>%`` last.

    .venv/bin/python benchmarks/twin_validation.py
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.hardware.schema import build
from fabrictwin.workload.cluster import Cluster
from fabrictwin.workload.flops import kv_bytes_per_token
from fabrictwin.workload.serving import evaluate, serve
from fabrictwin.workload.spec import Workload
from fabrictwin.workload.training import train_step

DATA = Path(__file__).parent / "data"
WORKLOADS = DATA / "twin_workloads"
SWITCH = "tomahawk5-51t2"
#: metrics compared as times (the rest are rates, sizes or ratios: higher is more)
TIME_METRICS = ("step_time_s", "ttft_ms")
FIXED = ("efficiency", "memory_efficiency")
SLO_ATTAINMENT = 0.9


@dataclass(frozen=True)
class Row:
    id: str
    source: str
    category: str
    metric: str
    published: float
    workload: str
    system: str
    nic_gbps: float | None
    params: str
    sign: str
    scope: str
    note: str


def load_rows() -> list[Row]:
    with (DATA / "twin_published.csv").open() as f:
        return [Row(r["id"], r["source_id"], r["category"], r["metric"],
                    float(r["published"]) if r["published"] else math.nan, r["workload"],
                    r["system"], float(r["nic_gbps"]) if r["nic_gbps"] else None, r["params"],
                    r["sign"], r["scope"], r["note"]) for r in csv.DictReader(f)]


def workload(row: Row) -> Workload:
    """The row's YAML with its overrides applied (``a.b=value;...``)."""
    data = yaml.safe_load((WORKLOADS / f"{row.workload}.yaml").read_text())
    for section in ("training", "inference"):
        for key in FIXED:
            if key in (data.get(section) or {}):
                raise SystemExit(f"{row.workload}: {section}.{key} is set; the validation "
                                 "uses the spec's defaults for every row")
    for item in filter(None, row.params.split(";")):
        path, value = item.split("=", 1)
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = yaml.safe_load(value)
    return build(Workload, data)


def cluster(row: Row, w: Workload, lib: ProfileLibrary) -> Cluster:
    return Cluster(lib.load(row.system or w.system.name, "hypernode"),
                   lib.load(SWITCH, "switch"),
                   row.nic_gbps * 1e9 if row.nic_gbps else None)


def _max_rate(w: Workload, c: Cluster, deployment: str, slo: bool) -> float:
    """Highest Poisson rate (req/s) not overloaded (and, with ``slo``, meeting the SLO for
    90% of requests), by doubling then bisection."""
    def ok(rate: float) -> bool:
        r = evaluate(w, c, rate, deployment)
        return not r["overloaded"] and (not slo or r["slo_attainment"] >= SLO_ATTAINMENT)

    lo, hi = 0.0, 0.01
    while ok(hi):
        lo, hi = hi, hi * 2
        if hi > 1e6:
            return lo
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        if hi - lo < 1e-3 * hi:
            break
    return lo


def _gpus(pools: list[Any]) -> int:
    return sum(p.instances * p.tp for p in pools)


def project(row: Row, lib: ProfileLibrary) -> tuple[float, str]:
    """The twin's figure for a row, and a short note of what limits it."""
    w = workload(row)
    c = cluster(row, w, lib)
    m = row.metric
    if w.training is not None:
        t = train_step(w, c)
        value = {"step_time_s": t.step_time_s, "mfu": t.mfu,
                 "tokens_per_s_per_gpu": t.tokens_per_s / t.gpus}[m]
        return value, f"{t.bottleneck}; bubble {t.bubble_s / t.step_time_s:.0%}"
    inf = w.inference
    assert inf is not None
    if m == "max_output_tokens_per_s":
        rate = _max_rate(w, c, "colocated", slo=False)
        return rate * inf.output.mean, f"saturation {rate:.3g} req/s"
    if m == "closed_output_tokens_per_s":
        r = serve(w, c)
        return float(r["throughput_tokens_per_s"]), f"decode batch {r['decode_batch'] or 0:.0f}"
    if m == "ttft_ms":
        r = evaluate(w, c, inf.arrival_rate, "colocated")
        return float(r["ttft_ms_p50"]), "p50 at light load"
    if m == "goodput_rps_per_gpu":
        rate = _max_rate(w, c, "colocated", slo=True)
        return rate / _gpus([inf.colocated]), "colocated, 90% SLO"
    if m == "kv_transfer_GBps":
        r = evaluate(w, c, inf.arrival_rate, "pd")
        return float(r["kv_transfer_GBps"]), f"p50 {r['kv_transfer_ms_p50']:.0f} ms"
    if m == "kv_request_GiB":
        return inf.prompt.mean * kv_bytes_per_token(w.model) / 2**30, "2 L K d bytes"
    if m == "goodput_ratio_pd":
        pd = _max_rate(w, c, "pd", slo=True) / _gpus([inf.prefill, inf.decode])
        co = _max_rate(w, c, "colocated", slo=True) / _gpus([inf.colocated])
        return (pd / co if co else math.inf), f"per GPU: PD {pd:.2f}, colocated {co:.2f} rps"
    if m == "max_throughput_ratio_pd":
        pd = _max_rate(w, c, "pd", slo=False)
        co = _max_rate(w, c, "colocated", slo=False)
        return pd / co, f"saturation: PD {pd:.2f}, colocated {co:.2f} req/s"
    if m in ("ttft_ratio_co_over_pd", "tpot_ratio_co_over_pd"):
        key = "ttft_ms_mean" if m.startswith("ttft") else "tpot_ms_mean"  # as published
        pd = evaluate(w, c, inf.arrival_rate, "pd")[key]
        co = evaluate(w, c, inf.arrival_rate, "colocated")[key]
        if pd is None or co is None:  # overloaded: an unbounded latency
            return (0.0 if pd is None else math.inf), "PD overloaded" if pd is None \
                else "colocated overloaded"
        return co / pd, f"colocated {co:.1f} ms, PD {pd:.1f} ms"
    raise SystemExit(f"row {row.id}: unknown metric {m!r}")


def error(row: Row, value: float) -> float:
    """Relative error as a time: + means the twin is slower (or smaller) than published."""
    if row.metric in TIME_METRICS:
        return (value - row.published) / row.published
    if value == 0:
        return math.inf
    return row.published / value - 1


def sign_ok(row: Row, value: float) -> bool:
    """Whether the twin's PD / colocated ratio has the published sign."""
    if row.sign == "+":
        return value > 1
    if row.sign == "-":
        return value < 1
    return value <= 1.05  # "<=": no gain (within 5%)


def main() -> int:
    lib = ProfileLibrary()
    rows = load_rows()
    console = Console(width=150)
    table = Table(title="published vs twin (errors as time: + means the twin is slower)")
    for col in ("row", "src", "category", "metric", "setup", "published", "twin", "error",
                "twin says"):
        table.add_column(col, justify="right" if col in ("published", "twin", "error")
                         else "left", overflow="fold")
    errors: dict[str, list[float]] = {}
    signs: list[tuple[Row, float, bool]] = []
    out: list[tuple[Row, str]] = []
    for row in rows:
        if row.scope.startswith("out:"):
            out.append((row, row.scope[4:]))
            continue
        value, why = project(row, lib)
        err = error(row, value) if not math.isnan(row.published) and row.sign != "<=" \
            else math.nan
        if not math.isnan(err):
            errors.setdefault(row.category, []).append(abs(err))
        if row.sign:
            signs.append((row, value, sign_ok(row, value)))
        table.add_row(row.id, row.source, row.category, row.metric, row.note,
                      "<= 1" if row.sign == "<=" else f"{row.published:.4g}", f"{value:.4g}",
                      "sign only" if math.isnan(err) else f"{err:+.1%}", why)
    console.print(table)
    console.print(f"sources: {DATA / 'twin_sources.md'}; workloads: {WORKLOADS}")
    console.print(f"out of scope ({len(out)} rows):")
    for row, why in out:
        extra = ""
        if "virtual-stage" in why and \
                row.metric == "mfu":
            v1, _ = project(replace(row, scope=""), lib)
            v_max, _ = project(replace(row, params=";".join(
                filter(None, [row.params, "training.virtual_stages=8"]))), lib)
            extra = (f" (twin for reference: {v1:.1%} with plain 1F1B, {v_max:.1%} with 8 "
                     f"chunks per stage; published {row.published:.0%})")
        console.print(f"  {row.id} {row.source} {row.metric}: {why}{extra}", soft_wrap=True)
    in_scope = [r for r in rows if not r.scope.startswith("out:")]
    print(f"rows={len(rows)} in_scope={len(in_scope)} out_of_scope={len(out)} "
          f"sources={len({r.source for r in in_scope})} "
          f"(all: {len({r.source for r in rows})})")
    every = [e for errs in errors.values() for e in errs]
    for cat, errs in errors.items():
        print(f"  {cat:>12}: n={len(errs):3d} median |error| {100 * statistics.median(errs):.1f}%")
    ok = sum(1 for *_, s in signs if s)
    print(f"PD sign (does separating prefill and decode win or lose): reproduced {ok} of "
          f"{len(signs)}")
    for row, value, s in signs:
        print(f"  row {row.id} {row.source} published {row.sign} twin {value:.3g}: "
              f"{'reproduced' if s else 'NOT reproduced'}")
    losses = [s for row, _, s in signs if row.sign in ("-", "<=")]
    print(f"PD losses reproduced: {sum(losses)} of {len(losses)}")
    print(f"median_abs_error={100 * statistics.median(every):.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
