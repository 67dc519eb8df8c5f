"""Human-readable reports (rich tables) of topologies and hardware profiles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from fabrictwin.hardware.catalogue import NIC, DCILink, HyperNode, SwitchChip
from fabrictwin.units import format_bytes, format_latency, format_rate


def topology_table(report: dict[str, Any]) -> Table:
    """The figures of :func:`fabrictwin.topologies.analysis.check` as a two-column table."""
    t = Table(title=f"topology {report['spec']}", show_header=False)
    t.add_column("figure", style="bold")
    t.add_column("value")
    roles = ", ".join(f"{n} {r}" for r, n in report["roles"].items())
    t.add_row("hosts / switches / links", f"{report['hosts']} / {report['switches']} / "
              f"{report['links']} ({report['physical_links']} physical)")
    t.add_row("nodes by role", roles)
    for tier, bps in report["tier_bandwidth_bps"].items():
        t.add_row(f"{tier} bandwidth", format_rate(bps) + " per direction")
    t.add_row("bisection bandwidth", format_rate(report["bisection_bps"]))
    t.add_row("oversubscription", f"{report['oversubscription']:.3g}:1")
    t.add_row("diameter", f"{report['diameter_hops']} hops")
    worst = report["worst_latency_ns"]
    t.add_row("worst GPU-to-GPU latency", format_latency(worst) if worst is not None else "-")
    t.add_row("busiest switch", f"{report['max_port_use']:.0%} of its ports")
    for name, c in report["checks"].items():
        t.add_row(f"check: {name}", ("[green]ok[/green] " if c["ok"] else "[red]FAIL[/red] ")
                  + c["detail"])
    return t


def hardware_table(parts: Iterable[tuple[str, Any]]) -> Table:
    """One row per profile used: what it is and its key figures."""
    t = Table(title="hardware")
    for col in ("role", "profile", "figures"):
        t.add_column(col)
    for role, part in parts:
        t.add_row(role, part.name, describe(part))
    return t


def describe(part: Any) -> str:
    """One line of key figures for a catalogue part."""
    if isinstance(part, HyperNode):
        return (f"{part.gpus} x {part.gpu.model} ({part.compute_trays} tray(s) x "
                f"{part.gpus_per_tray}), {format_rate(part.gpu.rate_bps)} per GPU per "
                f"direction over {part.links_per_gpu} links; {part.chips} x {part.chip.name} "
                f"({part.chip.radix} ports, {format_latency(part.chip.latency_ns)}); "
                f"{part.nics_per_gpu} x {part.nic.name} per GPU")
    if isinstance(part, NIC):
        return (f"{part.ports} x {format_rate(part.rate_bps)}, "
                f"{format_latency(part.latency_ns)}, MTU {part.mtu_bytes}")
    if isinstance(part, SwitchChip):
        buf = format_bytes(part.buffer_bytes) if part.buffer_bytes else "unpublished"
        return (f"{part.radix} x {format_rate(part.port_rate_bps)} = "
                f"{format_rate(part.capacity_bps)}, {format_latency(part.latency_ns)}, "
                f"buffer {buf}")
    if isinstance(part, DCILink):
        return (f"{format_rate(part.rate_bps)}, {part.fibre_ns_per_m:g} ns/m of fibre, "
                f"reach {part.reach_m / 1000:g} km")
    return str(part)


def print_tables(*tables: Table, console: Console | None = None) -> None:
    console = console or Console()
    for t in tables:
        console.print(t)
