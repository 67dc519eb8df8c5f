"""PFC headroom and per-ingress XOFF/XON thresholds, pure arithmetic.

Headroom is the buffer a lossless priority keeps above XOFF for what still arrives after
the queue crosses XOFF: the receiver decides to pause, the PFC frame reaches the
upstream, the upstream stops. Hardware model (IEEE 802.1Qbb's PFC delay model, terms
as listed in Cisco Press' reading of it), in bytes at line rate R:

    cable    = 2 x cable_m x ns_per_m x R / 8       the PFC frame's trip up + data already
                                                    on the way down (5 ns/m: fibre, ~0.65 c)
    frames   = (MTU + 20)                           a max frame this port has just started,
                                                    which the PFC frame cannot pre-empt
             + (64 + 20)                            the PFC frame itself
             + (MTU + 20)                           a max frame the upstream has started
                                                    when the pause takes effect
    response = (PAUSE reaction + 2 x interface delay) in bit times / 8
    total    = ceil(cable + frames + response)

20 B per frame is preamble + SFD (8) + minimum inter-frame gap (12); ``mtu_bytes`` is the
largest frame (L2 header and FCS included) the port carries, as switches count "MTU 9216".

Constants and their sources:

- PAUSE reaction (standard): IEEE 802.3 Annex 31B (31B.3.7) bounds how long a MAC may
  keep sending after a PAUSE/PFC frame arrives, in pause quanta of 512 bit times:
  10G 60, 25G 80, 40G 118, 100G 394, 400G 905 (as quoted by Cisco Press, "Detecting,
  Troubleshooting, and Preventing Congestion in Storage Networks", ch. 7, and by SONiC's
  buffer_headroom_barefoot.lua, which uses 67 for 10G).
- Interface delay (standard for 10/25/40/100G): PHY + MAC delay of one interface in bit
  times, 8192 / 6144 / 24576 / 122880, as quoted by the same chapter; counted twice
  (the PFC frame leaves here and enters there; the data it stops leaves there and enters
  here): our reading of 802.1Qbb's model, whose total the sources we saw do not spell
  out. *Estimate* for 400G: the 100G time, 1228.8 ns.
- 5 ns/m (estimate): fibre at ~0.65 c; Cisco's PFC white paper gives 513 ns per 100 m
  of single-mode fibre, 476 ns for twinax.
- Other rates (estimate): bit times interpolated linearly between the tabulated rates;
  below 10G and above 400G the tabulated time is kept.

Sources: Cisco, "Priority Flow Control: Build Reliable Layer 2 Infrastructure" (white
paper c11-542809); the ch. 7 summary "How to Compute Headroom for Lossless Ethernet Links
(Part 2)" (besthub.dev); SONiC "Dynamically Headroom Calculation" design and
sonic-swss cfgmgr/buffer_headroom_*.lua; Linux mlx5e port_buffer.c (commit 0696d60853d5:
xoff = (301 + 2.16 len[m]) speed[Gb/s] + 2.72 MTU, xon = xoff - MTU) and mlxsw (commit
edf777f55aee: 101.6 KB recommended for 100G and 100 m). Vendor formulas add margins
(cell overhead of small frames, pipeline latency) that this module leaves to the caller.

The emulated variant (:func:`emulated_headroom`) uses the same terms with the emulator's
own delays: the dilated rate, the emulated link delay both ways, two frames, and the
emulator's reaction time (poll, read, send, apply) plus what the upstream has already
queued for transmission. See docs/pfc.md, "Headroom and thresholds".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from fabrictwin.errors import FabricTwinError

FRAME_OVERHEAD_BYTES = 20  # preamble + SFD (8) + minimum inter-frame gap (12)
PFC_FRAME_BYTES = 64       # minimum frame, FCS included
QUANTUM_BITS = 512
NS_PER_M_FIBRE = 5.0

# rate_bps: (PAUSE reaction in quanta, 802.3 Annex 31B; one interface's delay in bit times)
_STANDARD_DELAYS: tuple[tuple[float, int, float], ...] = (
    (10e9, 60, 8192),
    (25e9, 80, 6144),
    (40e9, 118, 24576),
    (100e9, 394, 122880),
    (400e9, 905, 1228.8e-9 * 400e9),  # interface delay: estimate, the 100G time
)
_TABLE_BITS: tuple[tuple[float, float], ...] = tuple(
    (rate, quanta * QUANTUM_BITS + 2 * intf) for rate, quanta, intf in _STANDARD_DELAYS)


@dataclass(frozen=True)
class Headroom:
    cable_bytes: float     # bytes in flight on the cable during the round trip of the pause
    frames_bytes: float    # frames already started: max frames here and upstream, the PFC frame
    response_bytes: float  # bytes sent during the upstream's reaction time
    total_bytes: int       # ceil of the sum

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _headroom(cable: float, frames: float, response: float) -> Headroom:
    return Headroom(float(cable), float(frames), float(response),
                    math.ceil(cable + frames + response))


def _check(name: str, value: float, *, positive: bool = False) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or (value <= 0 if positive else value < 0):
        need = "positive" if positive else "non-negative"
        raise FabricTwinError(f"pfc headroom: {name} must be a finite {need} number, "
                              f"got {value!r}")


def _standard_response_bits(rate_bps: float) -> float:
    """PAUSE reaction + both interface delays, in bits, at ``rate_bps`` (see module doc)."""
    lo_rate, lo_bits = _TABLE_BITS[0]
    if rate_bps <= lo_rate:
        return lo_bits * rate_bps / lo_rate
    for hi_rate, hi_bits in _TABLE_BITS[1:]:
        if rate_bps <= hi_rate:
            return lo_bits + (hi_bits - lo_bits) * (rate_bps - lo_rate) / (hi_rate - lo_rate)
        lo_rate, lo_bits = hi_rate, hi_bits
    return lo_bits * rate_bps / lo_rate


def standard_response_ns(rate_bps: float) -> float:
    """The default ``response_ns`` of :func:`pfc_headroom`: the upstream's PAUSE reaction
    plus the interface delays of both ends, from the standards' bit-time bounds."""
    _check("rate_bps", rate_bps, positive=True)
    return _standard_response_bits(rate_bps) / rate_bps * 1e9


def pfc_headroom(rate_bps: float, cable_m: float, mtu_bytes: int, *,
                 response_ns: float | None = None, ns_per_m: float = NS_PER_M_FIBRE) -> Headroom:
    """Hardware headroom for one lossless priority on one ingress port (the standard's
    delay model). ``response_ns`` replaces the standard reaction + interface delays."""
    _check("rate_bps", rate_bps, positive=True)
    _check("cable_m", cable_m)
    _check("mtu_bytes", mtu_bytes, positive=True)
    _check("ns_per_m", ns_per_m, positive=True)
    cable = 2 * cable_m * ns_per_m * rate_bps / 8e9
    frames = 2 * (mtu_bytes + FRAME_OVERHEAD_BYTES) + PFC_FRAME_BYTES + FRAME_OVERHEAD_BYTES
    if response_ns is None:
        response = _standard_response_bits(rate_bps) / 8
    else:
        _check("response_ns", response_ns)
        response = response_ns * rate_bps / 8e9
    return _headroom(cable, frames, response)


def emulated_headroom(rate_bps: float, link_delay_ns: float, mtu_bytes: int,
                      reaction_ns: float, sender_queue_bytes: int = 0) -> Headroom:
    """Headroom in a time-dilated emulation: rate_bps is the dilated link rate,
    link_delay_ns the emulated one-way delay, reaction_ns the emulator's measured or
    assumed time from a queue crossing XOFF to the upstream stopping (poll interval +
    reading stats + sending the pause + applying it), sender_queue_bytes what the
    upstream has already handed to its own egress queue and cannot recall (e.g. a host
    NIC's transmit queue).

    cable = 2 x delay x rate (the pause goes up the emulated link, data comes down it);
    frames = 2 MTU (the frame whose arrival crossed XOFF, and the one the upstream's
    shaper lets out after the pause); response = reaction x rate + sender_queue_bytes.
    """
    _check("rate_bps", rate_bps, positive=True)
    _check("link_delay_ns", link_delay_ns)
    _check("mtu_bytes", mtu_bytes, positive=True)
    _check("reaction_ns", reaction_ns)
    _check("sender_queue_bytes", sender_queue_bytes)
    cable = 2 * link_delay_ns * rate_bps / 8e9
    frames = 2 * mtu_bytes
    response = reaction_ns * rate_bps / 8e9 + sender_queue_bytes
    return _headroom(cable, frames, response)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LosslessThresholds:
    buffer_bytes: int
    ingress_ports: int
    headroom_bytes: int
    xoff_bytes: int  # per ingress port: pause the upstream when its share exceeds this
    xon_bytes: int   # resume when it falls below this

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def lossless_thresholds(buffer_bytes: int, ingress_ports: int, headroom_bytes: int,
                        mtu_bytes: int, *, xon_gap_bytes: int | None = None
                        ) -> LosslessThresholds:
    """Static per-ingress thresholds for a buffer shared by the lossless priority:
    each ingress port gets buffer // ingress_ports; XOFF = that share minus the headroom,
    so even if every port fills to XOFF and then receives its whole headroom the buffer
    does not overflow. XON = XOFF - gap (default 2 MTU, never below 0)."""
    for name, value in (("buffer_bytes", buffer_bytes), ("headroom_bytes", headroom_bytes)):
        if not _is_int(value) or value < 0:
            raise FabricTwinError(f"pfc thresholds: {name} must be a non-negative integer, "
                                  f"got {value!r}")
    for name, value in (("ingress_ports", ingress_ports), ("mtu_bytes", mtu_bytes)):
        if not _is_int(value) or value <= 0:
            raise FabricTwinError(f"pfc thresholds: {name} must be a positive integer, "
                                  f"got {value!r}")
    if xon_gap_bytes is None:
        xon_gap_bytes = 2 * mtu_bytes
    elif not _is_int(xon_gap_bytes) or xon_gap_bytes < 0:
        raise FabricTwinError(f"pfc thresholds: xon_gap_bytes must be a non-negative "
                              f"integer, got {xon_gap_bytes!r}")
    share = buffer_bytes // ingress_ports
    need = headroom_bytes + 2 * mtu_bytes
    if share < need:
        raise FabricTwinError(
            f"pfc thresholds: buffer {buffer_bytes} B over {ingress_ports} ingress ports is "
            f"{share} B a port, less than headroom {headroom_bytes} B + 2 x MTU "
            f"{mtu_bytes} B = {need} B")
    xoff = share - headroom_bytes
    return LosslessThresholds(buffer_bytes, ingress_ports, headroom_bytes, xoff,
                              max(0, xoff - xon_gap_bytes))
