"""Validation of the projection model against published NCCL measurements.

Each row is a public measurement (nccl-tests output or a figure stated by NVIDIA's
engineers in NCCL issue threads, vendor and cloud benchmark pages) and what the model
projects for the same system, collective, size and algorithm. The model is not fitted
to these rows: its parameters come from the hardware profiles. Prints the table, then
``median_abs_error=<pct>%`` as its last line.

    .venv/bin/python benchmarks/validation.py
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import build_system, predict

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


def project(row: Row, lib: ProfileLibrary) -> tuple[float, str]:
    """The model's figure for a row, and the algorithm/protocol it used."""
    system = build_system(lib.load(row.system), row.gpus, switch=lib.load("tomahawk5-51t2"),
                          **row.build)
    p = predict(system, "all_reduce", [row.size_bytes], row.algo)
    value = p.time_s[0] * 1e6 if row.metric == "time_us" else p.busbw_GBps[0]
    return float(value), f"{p.algorithm[0]}/{p.protocol[0]}"


def main() -> int:
    lib = ProfileLibrary()
    table = Table(title="all_reduce: published vs projected")
    for col in ("row", "GPUs", "size", "metric", "published", "projected", "error", "algorithm"):
        table.add_column(col, justify="left" if col in ("row", "metric", "algorithm") else "right")
    errors = []
    for row in ROWS:
        value, algo = project(row, lib)
        err = (value - row.published) / row.published
        errors.append(abs(err))
        table.add_row(row.label, str(row.gpus), _size(row.size_bytes), row.metric,
                      f"{row.published:.2f}", f"{value:.2f}", f"{err:+.1%}", algo)
    console = Console(width=120)
    console.print(table)
    console.print("sources:")
    for row in ROWS:
        console.print(f"  {row.label}: {row.source}", soft_wrap=True)
    print(f"median_abs_error={100 * statistics.median(errors):.1f}%")
    return 0


def _size(size_bytes: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size_bytes >= scale and size_bytes % scale == 0:
            return f"{size_bytes // scale}{unit}"
    return f"{size_bytes}B"


if __name__ == "__main__":
    raise SystemExit(main())
