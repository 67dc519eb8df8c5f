"""Validation of the projection model against published NCCL measurements.

Each row is a public measurement (nccl-tests output or a figure stated by NVIDIA's
engineers in NCCL issue threads, vendor and cloud benchmark pages) and what the model
projects for the same system, collective, size and algorithm. The model is not fitted
to these rows: its parameters come from the hardware profiles. Two sets: the curated
rows below, and ``data/nccl_published.csv`` (sources in ``data/nccl_sources.md``).
Rows no documented input can describe (TCP-based or EFA NICs, unknown NIC count or rate,
systems without a profile) are printed as out of scope with the reason. Prints the
table, the median absolute error per size band and node count, then
``median_abs_error=<pct>%`` as its last line. Rows with a time compare times; rows
with only a bandwidth compare it (as a time: published busbw / projected busbw).

Each band is given twice: the model alone (hardware profiles and the table's NICs), and
the model also given the machine's measured per-call floor (``project --floor-us``): the
lesser time of the table's two smallest printed sizes (8 and 16 B for all_reduce), from
``data/nccl_floors.csv``; a table that prints only bus bandwidth gives the least time
its rounded figures allow. Those sizes are never scored rows (scored sizes start at
64 KiB); a table that does not print sizes up to 4 KiB has no floor. The last line is
the second.

    .venv/bin/python benchmarks/validation.py
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import build_system, predict
from fabrictwin.model.collectives import busbw_factor

GiB, MiB, KiB = 2**30, 2**20, 2**10


@dataclass(frozen=True)
class Row:
    label: str
    system: str
    gpus: int
    size_bytes: int
    metric: str  # "busbw_GBps" or "time_us"
    published: float
    source: str
    algo: str = "auto"
    build: dict = field(default_factory=dict)
    collective: str = "all_reduce"
    protocol: str = "auto"
    nodes: int = 1
    floor_s: float = 0.0  # the table's own smallest-size time (the host's per-call floor)


ROWS = [
    # --- one node: NVLink, ring and NVLink SHARP -------------------------------------
    Row("8xH100 ring", "dgx-h100", 8, 8 * GiB, "busbw_GBps", 370.0,
        "sjeaugey: ~370 GB/s busBw with NCCL_ALGO=RING; "
        "https://github.com/NVIDIA/nccl-tests/issues/212", algo="ring"),
    Row("8xH100 NVLS 8GiB", "dgx-h100", 8, 8 * GiB, "busbw_GBps", 480.16,
        "NVIDIA DGX Cloud recipe sample; "
        "https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("8xH100 NVLS 1GiB", "dgx-h100", 8, 1 * GiB, "busbw_GBps", 466.33,
        "same run; https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("8xH100 128MiB", "dgx-h100", 8, 128 * MiB, "busbw_GBps", 400.53,
        "same run; https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("8xH100 1MiB", "dgx-h100", 8, 1 * MiB, "time_us", 27.37,
        "same run; https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("8xH100 64KiB", "dgx-h100", 8, 64 * KiB, "time_us", 19.54,
        "same run; https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("8xH100 8B", "dgx-h100", 8, 8, "time_us", 13.67,
        "same run; https://github.com/NVIDIA/dgxc-benchmarking/blob/main/nccl/README.md"),
    Row("5xH100 NVLS", "dgx-h100", 5, 4 * GiB, "busbw_GBps", 420.0,
        "NVLS busbw 420 GB/s on 5 GPUs (2-4 GiB); https://github.com/NVIDIA/nccl/issues/1455"),
    Row("4xH100 NVLS", "dgx-h100", 4, 4 * GiB, "busbw_GBps", 367.5,
        "NVLS busbw 365-370 GB/s on 2-4 GPUs; https://github.com/NVIDIA/nccl/issues/1455"),
    Row("8xH200 NVLS", "dgx-h200", 8, 4 * GiB, "busbw_GBps", 475.0,
        "peak ~475 GB/s; https://github.com/NVIDIA/nccl-tests/issues/272"),
    Row("8xA100 ring", "dgx-a100", 8, 8 * GiB, "busbw_GBps", 230.0,
        "sjeaugey: ~230 GB/s at 8G; https://github.com/NVIDIA/nccl-tests/issues/149"),
    Row("8xB200 NVLS", "dgx-b200", 8, 8 * GiB, "busbw_GBps", 830.0,
        "8 B200 all_reduce 830+ GB/s; https://github.com/NVIDIA/nccl/issues/1807"),
    Row("72xGB200 NVL72", "gb200-nvl72", 72, 8 * GiB, "busbw_GBps", 834.57,
        "full NVL72 rack; https://github.com/coreweave/nccl-tests/pull/43"),
    # --- several nodes: NIC-bound ----------------------------------------------------
    Row("2x1 H100, 1 NIC", "dgx-h100", 2, 8 * GiB, "busbw_GBps", 47.0,
        "AddyLaddy: 46-48 GB/s per 400G NDR NIC; "
        "https://github.com/NVIDIA/nccl-tests/issues/290", build={"nodes": 2}),
    Row("2xDGX A100 ring", "dgx-a100", 16, 8 * GiB, "busbw_GBps", 192.0,
        "AddyLaddy: 8x200G per DGX A100 gives 192 GB/s; "
        "https://github.com/NVIDIA/nccl/issues/812", algo="ring"),
    Row("2x8 A100 IB 2GiB", "dgx-a100", 16, 2 * GiB, "busbw_GBps", 194.06,
        "Crusoe A100 IB, dstack docs; "
        "https://github.com/dstackai/dstack/blob/master/examples/clusters/crusoe/README.md"),
    Row("2x8 A100 IB 8B", "dgx-a100", 16, 8, "time_us", 27.70,
        "same run; "
        "https://github.com/dstackai/dstack/blob/master/examples/clusters/crusoe/README.md"),
    Row("3x8 A100, 4 NICs", "dgx-a100", 24, 133169160, "busbw_GBps", 95.74,
        "4x HDR per node (sjeaugey: 96 GB/s is the target); "
        "https://github.com/NVIDIA/nccl-tests/issues/119", build={"nics_per_node": 4}),
    Row("2x8 H100 NVLSTree", "dgx-h100", 16, 8 * GiB, "busbw_GBps", 470.0,
        "2 nodes x 8 GPU-NIC pairs; https://github.com/NVIDIA/nccl-tests/issues/309"),
    Row("4x8 H100", "dgx-h100", 32, 8 * GiB, "busbw_GBps", 365.84,
        "4 nodes x 8 GPU-NIC pairs; https://github.com/NVIDIA/nccl-tests/issues/309"),
]


DATA = Path(__file__).parent / "data" / "nccl_published.csv"
#: Per published table, its smallest printed size and time: the machine's per-call floor
#: (an input measured on that machine, as its NIC rate is; never a scored row).
FLOORS = Path(__file__).parent / "data" / "nccl_floors.csv"
#: Published GPU names to profiles (only 8-GPU HGX/DGX-class nodes and the NVL72 rack).
GPU_PROFILES = (("GB200", "gb200-nvl72"), ("H100", "dgx-h100"), ("H200", "dgx-h200"),
                ("A100", "dgx-a100"), ("B200", "dgx-b200"))
NIC_TYPES = ("ib", "roce")
#: (source, nodes) whose own thread shows the setup far below what its stated hardware
#: does, unresolved there: the rows measure a fault, which no documented input describes
FAULTY_SETUPS = {
    ("S14", 2): "the thread's 2-node runs move ~11 GB/s per 400G NIC where NVIDIA's "
                "maintainer expects 46-48 (nccl-tests #290); the fault is never resolved",
}
#: (source, nodes, collective) tables that are not steady by their own columns: the
#: out-of-place and in-place times of one size differ by more than 1.5x (checked on every
#: raw table that prints both, before comparing anything with the model)
UNSTEADY_TABLES = {
    ("S18", 1, "all_gather"): "not steady: out-of-place / in-place time 0.53x at 256 KiB, "
                              "5.9x at 1 MiB, 1.47x at 8 GiB in the same rows (warmup 1)",
}


#: A table's floor is read from sizes up to this (a table starting larger has none).
FLOOR_MAX_BYTES = 4096


def _printed_time_us(r: dict[str, str], k: str) -> float | None:
    """The ``k`` (``min``/``second``) size's time in us: as printed, or where a table prints
    only bus bandwidth, the least time its rounded figure allows (nccl-tests: time =
    size x busbw_factor / busbw, with busbw up to half a unit of its last printed digit
    more), so a derived floor never exceeds what the table shows."""
    if r[f"{k}_time_us"]:
        return float(r[f"{k}_time_us"])
    printed = r.get(f"{k}_busbw_GBps", "")
    if not printed:
        return None
    decimals = len(printed.partition(".")[2])
    busbw = float(printed) + 0.5 * 10.0 ** -decimals
    ranks = int(r["gpus_per_node"]) * int(r["nodes"])
    return int(r[f"{k}_size_bytes"]) * busbw_factor(r["collective"], ranks) / busbw / 1e3


def load_floors() -> dict[int, float]:
    """Data-file row id -> its table's per-call floor (s): the lesser time of its two
    smallest printed sizes (a floor is a bound from below: a first timed size that still
    pays first-use costs only adds), where those sizes are at most FLOOR_MAX_BYTES."""
    floors: dict[int, float] = {}
    if not FLOORS.exists():
        return floors
    with FLOORS.open() as f:
        for r in csv.DictReader(f):
            times = [t for k in ("min", "second")
                     if r[f"{k}_size_bytes"] and int(r[f"{k}_size_bytes"]) <= FLOOR_MAX_BYTES
                     and (t := _printed_time_us(r, k)) is not None]
            if not times:
                continue
            for part in r["csv_ids"].split(";"):
                lo, _, hi = part.strip().partition("-")
                for i in range(int(lo), int(hi or lo) + 1):
                    floors[i] = min(times) * 1e-6
    return floors


def _scope(r: dict[str, str], lib: ProfileLibrary) -> tuple[Row | None, str]:
    """The row as model input, or None and why no documented input describes it."""
    gpu = r["gpu"].upper()
    name = next((p for k, p in GPU_PROFILES if k in gpu), None)
    if name is None:
        return None, f"no profile for {r['gpu']}"
    gpn, nodes = int(r["gpus_per_node"]), int(r["nodes"])
    gpus = gpn * nodes
    if (faulty := FAULTY_SETUPS.get((r["source_id"], nodes))) is not None:
        return None, faulty
    if (unsteady := UNSTEADY_TABLES.get((r["source_id"], nodes, r["collective"]))) is not None:
        return None, unsteady
    build: dict = {}
    if name == "gb200-nvl72":
        if gpus > lib.load(name).gpus:
            return None, "spans several NVL72 racks (rack grouping not stated)"
        nodes = 1  # the trays of one rack share one NVLink domain
    elif nodes > 1:
        if r["nic_type"] not in NIC_TYPES:
            return None, f"{r['nic_type'] or 'unstated'} NICs (not an RDMA IB/RoCE NIC)"
        if not r["nics_per_node"] or not r["nic_gbps"]:
            return None, "NIC count or rate per node not stated"
        build = {"nodes": nodes, "nics_per_node": int(r["nics_per_node"]),
                 "nic_rate_bps": float(r["nic_gbps"]) * 1e9}
    env = r["algo_env"]
    if "MIN_NCHANNELS" in env or "MIN_CTAS" in env or "BUFFSIZE" in env:
        return None, f"tuned channels/buffers ({env})"
    # NCCL reads NCCL_ALGO/NCCL_PROTO names case-insensitively (NCCL_ALGO=RING is the
    # maintainers' own advice, nccl-tests #290)
    upper = env.upper()
    named = upper.partition("NCCL_ALGO=")[2].split()[0] if "NCCL_ALGO=" in upper else ""
    algo = {"RING": "ring", "TREE": "tree", "NVLS": "nvls", "NVLSTREE": "nvls"}.get(named, "auto")
    proto = next((p for p in ("LL128", "Simple", "LL") if f"PROTO={p.upper()}" in upper), "auto")
    if r["time_us"]:
        metric, value = "time_us", float(r["time_us"])
    else:
        metric, value = "busbw_GBps", float(r["busbw_GBps"])
    return Row(f"{r['source_id']}#{r['id']}", name, gpus, int(r["size_bytes"]), metric, value,
               r["source_id"], algo=algo, build=build, collective=r["collective"],
               protocol=proto, nodes=int(r["nodes"])), ""


def load_rows(lib: ProfileLibrary) -> tuple[list[Row], list[tuple[str, str]]]:
    """In-scope rows of the data file and (row, reason) for the others."""
    rows, out = [], []
    if not DATA.exists():
        return rows, out
    floors = load_floors()
    with DATA.open() as f:
        for r in csv.DictReader(f):
            row, why = _scope(r, lib)
            if row is not None and int(r["id"]) in floors:
                row = replace(row, floor_s=floors[int(r["id"])])
            if row is None:
                out.append((f"{r['source_id']}#{r['id']} {r['gpu']} x{r['gpus_per_node']}"
                            f"x{r['nodes']} {r['collective']} {_size(int(r['size_bytes']))}", why))
            else:
                rows.append(row)
    return rows, out


def project(row: Row, lib: ProfileLibrary, floor: bool = False) -> tuple[float, str]:
    """The model's figure for a row (with ``floor``: given its table's per-call floor),
    and the algorithm/protocol it used."""
    system = build_system(lib.load(row.system), row.gpus, switch=lib.load("tomahawk5-51t2"),
                          call_floor_s=row.floor_s if floor else 0.0, **row.build)
    p = predict(system, row.collective, [row.size_bytes], row.algo, row.protocol)
    value = p.time_s[0] * 1e6 if row.metric == "time_us" else p.busbw_GBps[0]
    return float(value), f"{p.algorithm[0]}/{p.protocol[0]}"


def _error(row: Row, value: float) -> float:
    """Relative error as a time: (projected - published) / published."""
    if row.metric == "time_us":
        return (value - row.published) / row.published
    return row.published / value - 1


def bands(rows: list[Row], errors: list[float]) -> dict[str, list[float]]:
    """Absolute errors per size band and per node count."""
    out: dict[str, list[float]] = {k: [] for k in ("<= 1 MiB", "1 MiB - 256 MiB", ">= 256 MiB",
                                                   "single node", "multi-node", "overall")}
    for row, err in zip(rows, errors, strict=True):
        band = ("<= 1 MiB" if row.size_bytes <= MiB else
                ">= 256 MiB" if row.size_bytes >= 256 * MiB else "1 MiB - 256 MiB")
        nodes = row.nodes if row.nodes > 1 else row.build.get("nodes", 1)
        for key in (band, "single node" if nodes == 1 else "multi-node", "overall"):
            out[key].append(abs(err))
    return out


def main() -> int:
    lib = ProfileLibrary()
    data_rows, out_of_scope = load_rows(lib)
    rows = ROWS + data_rows
    table = Table(title="published vs projected (errors as time: + means the model is slower)")
    for col in ("row", "coll", "GPUs", "size", "metric", "published", "projected", "error",
                "floor us", "+floor", "algorithm"):
        table.add_column(col, justify="left" if col in ("row", "coll", "metric", "algorithm")
                         else "right")
    errors, floored = [], []
    for row in rows:
        value, algo = project(row, lib)
        err = _error(row, value)
        errors.append(err)
        with_floor = _error(row, project(row, lib, floor=True)[0])
        floored.append(with_floor)
        table.add_row(row.label, row.collective, str(row.gpus), _size(row.size_bytes),
                      row.metric, f"{row.published:.2f}", f"{value:.2f}", f"{err:+.1%}",
                      f"{row.floor_s * 1e6:.1f}" if row.floor_s else "-",
                      f"{with_floor:+.1%}" if row.floor_s else "", algo)
    console = Console(width=150)
    console.print(table)
    console.print("sources (curated rows):")
    for row in ROWS:
        console.print(f"  {row.label}: {row.source}", soft_wrap=True)
    console.print(f"sources (data rows): {DATA.parent / 'nccl_sources.md'}")
    console.print(f"out of scope ({len(out_of_scope)} rows):")
    for label, why in out_of_scope:
        console.print(f"  {label}: {why}", soft_wrap=True)
    sources = {r.source for r in data_rows} | {r.source.rsplit(' ', 1)[-1] for r in ROWS}
    print(f"rows={len(rows)} (curated {len(ROWS)}, data file {len(data_rows)}) "
          f"sources={len(sources)} out_of_scope={len(out_of_scope)}")
    with_floors = sum(1 for r in rows if r.floor_s)
    print(f"median |error| per band: the model alone, and given each table's measured "
          f"per-call floor (its smallest printed size; {with_floors} rows have one)")
    alone, given = bands(rows, errors), bands(rows, floored)
    for key, errs in alone.items():
        if errs:
            print(f"  {key:>16}: n={len(errs):3d} alone {100 * statistics.median(errs):5.1f}%"
                  f"   with floor {100 * statistics.median(given[key]):5.1f}%")
    print(f"median_abs_error_alone={100 * statistics.median(abs(e) for e in errors):.1f}%")
    print(f"median_abs_error={100 * statistics.median(abs(e) for e in floored):.1f}%")
    return 0


def _size(size_bytes: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size_bytes >= scale and size_bytes % scale == 0:
            return f"{size_bytes // scale}{unit}"
    return f"{size_bytes}B"


if __name__ == "__main__":
    raise SystemExit(main())
