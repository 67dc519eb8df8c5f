"""PFC headroom of a DCI port against fibre distance, and whether a router's buffer holds it.

Lossless RoCE over a data-centre interconnect needs, on the receiving router's DCI port,
headroom for everything in flight while its PAUSE crosses the fibre and the far end stops:
the hardware model of :func:`~fabrictwin.hardware.headroom.pfc_headroom` with the fibre
as the cable. The one-way delay is the link's own
:meth:`~fabrictwin.hardware.catalogue.DCILink.latency_ns`: fibre *and* both ends'
transponder DSP (the PAUSE crosses them one way, the data it stops the other). At
4.9 ns/m, 400 Gb/s and 2 us of DSP per end, every kilometre costs 490 kB of headroom
and the transponders 400 kB more, so a switch buffer split over its ports runs out at
metro distances.

:func:`dci_headroom_table` tabulates it for 1/10/40/100 km against a router's buffer,
with :func:`~fabrictwin.hardware.headroom.lossless_thresholds` as the verdict: every
lossless ingress port gets ``buffer // ports`` and needs the headroom plus 2 MTU of it
(the static split :mod:`fabrictwin.fabric.pfc.setup` uses, conservative: it gives each
port the DCI port's headroom).

Shallow-buffer chips such as Tomahawk 5 (~165 MB on chip, an estimate) are the
data-centre case; routers built for DCI are deep-buffer chips with off-chip memory:
Broadcom's Jericho4 (Aug 2025) integrates HBM "to hold traffic till the congestion frees
up" and is announced for lossless RoCE beyond 100 km (Broadcom Jericho4 announcement,
reported by e.g. Computer Weekly and Next Platform, Aug 2025), and Juniper ran NCCL
all-reduce over 50 km of 800ZR between PTX routers (Juniper community TechPost,
"Training over 50km 800GE Links with PTX Routers", Oct 2025). NVIDIA argues the other way
for Spectrum-XGS: deep buffers add latency and jitter, so it relies on distance-aware
congestion control on shallow-buffer Spectrum-X switches instead (NVIDIA technical blog,
"How to connect distributed data centers into large AI factories with scale-across
networking", 2025).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import DCILink
from fabrictwin.hardware.headroom import Headroom, lossless_thresholds, pfc_headroom

#: Distances of :func:`dci_headroom_table`, metres.
TABLE_DISTANCES_M: tuple[float, ...] = (1_000.0, 10_000.0, 40_000.0, 100_000.0)
#: Largest frame on a RoCE port with a 4096 B payload MTU (headers, FCS), as in docs/pfc.md.
ROCE_FRAME_BYTES = 4200


def dci_headroom(dci: DCILink, distance_m: float, mtu_bytes: int = ROCE_FRAME_BYTES, *,
                 rate_bps: float | None = None) -> Headroom:
    """Hardware PFC headroom of one ingress port at the end of ``distance_m`` of ``dci``
    (at its line rate unless ``rate_bps`` is given): cable = 2 x one-way delay x rate,
    the delay with both transponders, plus the standard frames and response terms.

    >>> zr400 = DCILink("zr400", 400e9, equipment_latency_ns=2000.0)
    >>> h = dci_headroom(zr400, 10_000)     # 2 x 53 us x 400 Gb/s = 5.3 MB on the fibre
    >>> (h.cable_bytes, h.total_bytes)
    (5300000.0, 5489324)
    """
    # to the picosecond: 100 km x 4.9 ns/m is 490000.00000000006 in floats, a byte too many
    one_way_ns = round(dci.latency_ns(distance_m), 3)
    rate = dci.rate_bps if rate_bps is None else rate_bps
    # pfc_headroom's cable term is 2 x cable_m x ns_per_m x rate / 8: at 1 ns per "metre" it
    # takes the one-way delay itself (transponders included) and stays exact in floats
    return pfc_headroom(rate, one_way_ns, mtu_bytes, ns_per_m=1.0)


def _check_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        need = "positive" if low > 0 else "non-negative"
        raise FabricTwinError(f"dci headroom: {name} must be a {need} integer, got {value!r}")


def lossless_reach_m(dci: DCILink, buffer_bytes: int, ingress_ports: int,
                     mtu_bytes: int = ROCE_FRAME_BYTES) -> float:
    """The longest fibre over which ``dci`` can stay lossless on a router whose
    ``buffer_bytes`` are split over ``ingress_ports`` lossless ports (0 when not even
    the transponders fit; capped at the link's reach).

    >>> zr400 = DCILink("zr400", 400e9, equipment_latency_ns=2000.0)
    >>> round(lossless_reach_m(zr400, 165_000_000, 64) / 1000, 2)   # 2.58 MB a port
    4.04
    """
    _check_int("buffer_bytes", buffer_bytes, 0)
    _check_int("ingress_ports", ingress_ports, 1)
    _check_int("mtu_bytes", mtu_bytes, 1)
    at_zero = dci_headroom(dci, 0, mtu_bytes).total_bytes  # the transponders alone
    spare = buffer_bytes // ingress_ports - 2 * mtu_bytes - at_zero
    per_m = 2 * dci.fibre_ns_per_m * dci.rate_bps / 8e9  # headroom bytes per metre of fibre
    return min(dci.reach_m, max(0.0, spare / per_m))


@dataclass(frozen=True)
class DciHeadroomRow:
    link: str
    distance_m: float
    rate_bps: float
    one_way_ns: float       # fibre + both transponders
    headroom_bytes: int     # hardware PFC headroom of the DCI port
    buffer_bytes: int       # the router's lossless buffer
    ingress_ports: int      # lossless ingress ports sharing it
    share_bytes: int        # buffer // ingress ports
    xoff_bytes: int | None  # static XOFF when lossless fits, else None

    @property
    def feasible(self) -> bool:
        return self.xoff_bytes is not None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "feasible": self.feasible}


def dci_headroom_table(links: Sequence[DCILink], buffer_bytes: int, ingress_ports: int, *,
                       distances_m: Sequence[float] = TABLE_DISTANCES_M,
                       mtu_bytes: int = ROCE_FRAME_BYTES) -> list[DciHeadroomRow]:
    """One row per link and distance: the DCI port's headroom and whether a router with
    ``buffer_bytes`` over ``ingress_ports`` lossless ports can hold it
    (:func:`~fabrictwin.hardware.headroom.lossless_thresholds`).

    >>> zr400 = DCILink("zr400", 400e9, equipment_latency_ns=2000.0)
    >>> rows = dci_headroom_table([zr400], 165_000_000, 64)
    >>> [(r.distance_m / 1000, r.headroom_bytes, r.feasible) for r in rows[:2]]
    [(1.0, 1079324, True), (10.0, 5489324, False)]
    """
    _check_int("buffer_bytes", buffer_bytes, 0)
    _check_int("ingress_ports", ingress_ports, 1)
    _check_int("mtu_bytes", mtu_bytes, 1)
    rows = []
    for dci in links:
        for d in distances_m:
            need = dci_headroom(dci, d, mtu_bytes).total_bytes
            try:  # the inputs are checked above: an error here means it does not fit
                xoff: int | None = lossless_thresholds(buffer_bytes, ingress_ports, need,
                                                       mtu_bytes).xoff_bytes
            except FabricTwinError:
                xoff = None
            rows.append(DciHeadroomRow(dci.name, float(d), dci.rate_bps, dci.latency_ns(d), need,
                                       buffer_bytes, ingress_ports,
                                       buffer_bytes // ingress_ports, xoff))
    return rows


def format_dci_table(rows: Sequence[DciHeadroomRow]) -> str:
    """The table as text, one line per row, sizes in MB (10^6 B).

    >>> zr400 = DCILink("zr400", 400e9, equipment_latency_ns=2000.0)
    >>> print(format_dci_table(dci_headroom_table([zr400], 165_000_000, 64, distances_m=[1e3])))
    link    km  Gb/s  one-way us  headroom MB  per port MB  lossless
    zr400    1   400         8.9         1.08         2.58  yes (XOFF 1.50 MB)
    """
    lines = ["link    km  Gb/s  one-way us  headroom MB  per port MB  lossless"]
    for r in rows:
        verdict = f"yes (XOFF {r.xoff_bytes / 1e6:.2f} MB)" if r.xoff_bytes is not None else "no"
        lines.append(f"{r.link:<6}{r.distance_m / 1000:>4g} {r.rate_bps / 1e9:>5g} "
                     f"{r.one_way_ns / 1000:>11.1f} {r.headroom_bytes / 1e6:>12.2f} "
                     f"{r.share_bytes / 1e6:>12.2f}  {verdict}")
    return "\n".join(lines)
