"""An all-reduce across two DCs against DCI distance, for each congestion-control variant (root).

Usage: sudo fabrictwin experiment scale-across [--distance-km 1,10,100]
                                               [--cc dcqcn,dcqcn-rtt] [--size 16M]
                                               [--dci zr400|zr800] [--json] [--out results/]

Brings up two DCs of four single-GPU DGX H100 slices (rail-optimized 400G, a DCI router
per DC, one 400ZR link) once per distance and variant, each at the D its routed load
needs, and runs a hierarchical all-reduce: inside each DC, then 4 x 400G across the one
DCI at once, then back. The DCI is lossless (PFC with its distance's headroom on the
routers' buffers) where the headroom fits, else the run says so and carries the DCI
class without PFC. Variants: dcqcn (the paper's timers, 55 us) and dcqcn-rtt (timers,
byte counter and CNP pacing scaled to the path's round trip). Prints a table and writes
scale-across.png (busbw and the largest switch queue against distance, the model's
busbw beside) and scale-across.json under --out. --json prints the rows instead.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from fabrictwin.cli.experiments.common import add_json_out, describe, ready, say
from fabrictwin.errors import FabricTwinError
from fabrictwin.runs.scale_across import FIELDS, cases, plot, run_case
from fabrictwin.traffic.dcqcn import CC_VARIANTS
from fabrictwin.units import parse_size_bytes


def _distances(text: str) -> list[float]:
    try:
        km = [float(x) for x in text.split(",")]
    except ValueError:
        raise FabricTwinError(f"--distance-km: expected numbers like 1,10,100, got {text!r}"
                              ) from None
    if not km or not all(0 < k <= 1000 for k in km):
        raise FabricTwinError(f"--distance-km: expected distances in (0, 1000] km, got {text}")
    return km


def _ccs(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [n for n in names if n not in CC_VARIANTS]
    if bad or not names:
        raise FabricTwinError(f"--cc: unknown {', '.join(bad) or text!r} "
                              f"(known: {', '.join(CC_VARIANTS)})")
    return names


def _table(rows: list[dict]) -> Table:
    t = Table(title="all-reduce across two DCs (hardware time)")
    for col in ("km", "cc", "DCI", "busbw GB/s", "model GB/s", "emu/model", "lost B", "retx",
                "pauses", "max queue MB", "DCI queue MB", "CNPs", "D", "wall s"):
        t.add_column(col, justify="left" if col in ("cc", "DCI") else "right")

    def num(v: object, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in rows:
        t.add_row(f"{r['distance_km']:g}", r["cc"], r["dci_class"].split(":")[0],
                  num(r.get("busbw_GBps"), ".2f"), num(r.get("model_busbw_GBps"), ".2f"),
                  num(r.get("emulated_vs_model"), ".2f"), num(r.get("lost_bytes"), "d"),
                  num(r.get("retransmits"), "d"), num(r.get("pfc_pauses"), "d"),
                  num((r.get("max_queue_bytes") or 0) / 1e6, ".2f"),
                  num((r.get("dci_queue_bytes") or 0) / 1e6, ".2f"), num(r.get("cnps"), "d"),
                  f"{r['dilation']:.3g}", f"{r['wall_s']:.0f}")
    return t


def cmd_scale_across(args: argparse.Namespace) -> int:
    size = parse_size_bytes(args.size, "--size")
    runs = cases(_distances(args.distance_km), _ccs(args.cc), args.dci)
    ready(args.out)
    rows = []
    for i, case in enumerate(runs, 1):
        label = f"{i}/{len(runs)} {case.distance_km:g} km {case.cc}"
        rows.append(run_case(case, size, args.out / "scale-across",
                             progress=lambda m, label=label: say(label, m)))
        r = rows[-1]
        say(label, "done" if r.get("ok") else f"FAILED: {r.get('failure')}")
    doc = args.out / "scale-across.json"
    doc.write_text(json.dumps(rows, indent=1) + "\n")
    png = plot(rows, args.out / "scale-across.png")
    if args.json:
        print(json.dumps([{k: r.get(k) for k in FIELDS} for r in rows], indent=1))
    else:
        console = Console()
        console.print(_table(rows))
        for r in rows:
            if r["dci_class"] != "lossless":
                console.print(f"{r['distance_km']:g} km: {r['dci_class']}")
            if not r.get("ok"):
                console.print(f"[red]{r['distance_km']:g} km {r['cc']}: FAILED, "
                              f"{r.get('failure')}[/red]")
        console.print(f"wrote {png} and {doc}")
    return 0 if all(r.get("ok") for r in rows) else 1


def add_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    describe(p, __doc__)
    add_json_out(p)
    p.add_argument("--distance-km", default="1,10,100", help="DCI lengths (default 1,10,100)")
    p.add_argument("--cc", default="dcqcn,dcqcn-rtt",
                   help=f"variants to compare (default dcqcn,dcqcn-rtt; known: "
                        f"{', '.join(CC_VARIANTS)})")
    p.add_argument("--size", default="16M", help="all-reduce size (default 16M)")
    p.add_argument("--dci", default="zr400", choices=["zr400", "zr800"],
                   help="DCI link profile (default zr400)")
    p.set_defaults(func=cmd_scale_across)
