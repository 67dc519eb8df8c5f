"""Priority-based Flow Control (PFC) frames, IEEE Std 802.1Qbb-2011 (MAC Control PFC
operation: IEEE Std 802.3 annex 31D).

A PFC frame is a MAC Control frame (Ethertype 0x8808) with opcode 0x0101, sent to the
reserved link-local group address 01:80:c2:00:00:01 (never forwarded by a bridge). After
the opcode comes the class-enable vector (2 bytes: bit n set = the time for priority n is
valid; the upper byte is reserved, 0), then eight 16-bit times, one per priority 0..7,
in pause quanta of 512 bit times at the link's rate, then 26 reserved zero bytes that
bring the frame to the 60-byte Ethernet minimum (without FCS):
14 (Ethernet) + 2 (opcode) + 2 (vector) + 16 (times) + 26 = 60.

A time of 0 with its bit set resumes the priority at once (XON); an empty vector pauses
nothing and a receiver ignores the frame. Scapy's layer is :class:`MACControlPFC`; the
per-frame path (:func:`pause_frame`, :func:`parse_pause`, :data:`PFC_BPF`) uses only
``struct``. ``scapy.contrib.mac_control`` (not imported here) also binds 0x8808: if both
are loaded, Ether dissects 0x8808 with whichever module was imported first.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from scapy.config import conf
from scapy.fields import FlagsField, ShortField, XShortField, XStrFixedLenField
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers

from fabrictwin.errors import FabricTwinError

ETH_P_MAC_CONTROL = 0x8808
PFC_OPCODE = 0x0101
#: 802.3x global PAUSE: same Ethertype, not PFC (parse_pause and PFC_BPF reject it).
PAUSE_OPCODE = 0x0001
PFC_DST_MAC = "01:80:c2:00:00:01"
QUANTUM_BITS = 512
MAX_QUANTA = 0xFFFF
#: Minimum Ethernet frame without FCS; a PFC frame is exactly this long.
PFC_FRAME_LEN = 60
PRIORITIES = 8
ETH_LEN = 14
#: opcode + class-enable vector + 8 times
PFC_FIELDS_LEN = 2 + 2 + 2 * PRIORITIES
PFC_PAD_LEN = PFC_FRAME_LEN - ETH_LEN - PFC_FIELDS_LEN  # 26

# dst, src, ethertype, opcode, class-enable vector, 8 times, reserved zeros
_FRAME = struct.Struct(f"!6s6sHHH{PRIORITIES}H{PFC_PAD_LEN}x")
_HEAD = struct.Struct("!HHH")  # ethertype, opcode, vector at offset 12
_TIMES = struct.Struct(f"!{PRIORITIES}H")  # at offset 18
_TIMES_OFF = ETH_LEN + 4
_DST = bytes.fromhex(PFC_DST_MAC.replace(":", ""))
_MAC_RE = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")
_NO_TIMES = (0,) * PRIORITIES

assert _FRAME.size == PFC_FRAME_LEN

#: Classic BPF (code, jt, jf, k): accept only MAC Control frames with the PFC opcode.
PFC_BPF: tuple[tuple[int, int, int, int], ...] = (
    (0x28, 0, 0, 12), (0x15, 0, 3, ETH_P_MAC_CONTROL),  # ldh [12]; jeq 0x8808
    (0x28, 0, 0, 14), (0x15, 0, 1, PFC_OPCODE),         # ldh [14]; jeq 0x0101
    (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0),              # accept / drop
)


class MACControlPFC(Packet):
    """MAC Control PFC (opcode 0x0101): class-enable vector, 8 times, reserved padding."""

    name = "MAC Control PFC"
    fields_desc = [
        XShortField("opcode", PFC_OPCODE),
        # 16 bits, least significant first: P0..P7, then the reserved upper byte
        FlagsField("class_enable_vector", 0, 16, [f"P{p}" for p in range(PRIORITIES)]),
        *[ShortField(f"quanta{p}", 0) for p in range(PRIORITIES)],
        XStrFixedLenField("pad", b"\0" * PFC_PAD_LEN, PFC_PAD_LEN),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any,
                      **kargs: Any) -> type[Packet]:
        """Dissect other MAC Control opcodes (e.g. 802.3x PAUSE) as raw bytes, not as PFC."""
        if _pkt is not None and len(_pkt) >= 2 and _pkt[0] << 8 | _pkt[1] != PFC_OPCODE:
            return conf.raw_layer  # type: ignore[no-any-return]
        return cls

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s  # anything past the reserved bytes (e.g. an FCS) is padding


bind_layers(Ether, MACControlPFC, type=ETH_P_MAC_CONTROL)


@lru_cache(maxsize=256)
def _mac(mac: str) -> bytes:
    if not isinstance(mac, str) or not _MAC_RE.fullmatch(mac):
        raise FabricTwinError(f"PFC: not a MAC address (aa:bb:cc:dd:ee:ff): {mac!r}")
    return bytes.fromhex(mac.replace(":", ""))


def pause_frame(src_mac: str, quanta: Mapping[int, int]) -> bytes:
    """The 60-byte PFC frame from ``src_mac`` pausing each priority in ``quanta`` for its
    value (in quanta; 0 = resume now, XON); priorities absent keep their state."""
    vector = 0
    times = list(_NO_TIMES)
    for prio, q in quanta.items():
        if type(prio) is not int or not 0 <= prio < PRIORITIES:
            raise FabricTwinError(f"PFC: priority must be an integer 0..7, got {prio!r}")
        if type(q) is not int or not 0 <= q <= MAX_QUANTA:
            raise FabricTwinError(f"PFC: quanta for priority {prio} must be an integer "
                                  f"0..{MAX_QUANTA}, got {q!r}")
        vector |= 1 << prio
        times[prio] = q
    return _FRAME.pack(_DST, _mac(src_mac), ETH_P_MAC_CONTROL, PFC_OPCODE, vector, *times)


def noop_frame(src_mac: str) -> bytes:
    """A PFC frame with an empty class-enable vector: it pauses and resumes nothing."""
    return _FRAME.pack(_DST, _mac(src_mac), ETH_P_MAC_CONTROL, PFC_OPCODE, 0, *_NO_TIMES)


def parse_pause(frame: bytes | bytearray | memoryview) -> dict[int, int] | None:
    """``{priority: quanta}`` for each enabled priority of a PFC frame ({} for a no-op);
    None for anything else (other Ethertypes, other MAC Control opcodes, runts).
    The destination address is not checked; trailing bytes (an FCS) are ignored."""
    if len(frame) < _TIMES_OFF + _TIMES.size:
        return None
    ethertype, opcode, vector = _HEAD.unpack_from(frame, 12)
    if ethertype != ETH_P_MAC_CONTROL or opcode != PFC_OPCODE:
        return None
    vector &= 0xFF  # the upper byte is reserved
    if not vector:
        return {}
    times = _TIMES.unpack_from(frame, _TIMES_OFF)
    return {p: times[p] for p in range(PRIORITIES) if vector >> p & 1}


def _check_rate(rate_bps: float) -> None:
    if not rate_bps > 0 or math.isinf(rate_bps):
        raise FabricTwinError(f"PFC: link rate must be a positive number of bit/s, "
                              f"got {rate_bps!r}")


def quanta_to_ns(quanta: int, rate_bps: float) -> float:
    """How long ``quanta`` pause quanta (512 bit times each) last on a link of ``rate_bps``.

    In a time-dilated emulation pass the dilated (real, slowed-down) link rate: the pause
    then lasts D times longer in real time, as everything else on the link does.
    """
    _check_rate(rate_bps)
    if not 0 <= quanta <= MAX_QUANTA:
        raise FabricTwinError(f"PFC: quanta must be in 0..{MAX_QUANTA}, got {quanta!r}")
    return quanta * QUANTUM_BITS * 1e9 / rate_bps


def ns_to_quanta(time_ns: float, rate_bps: float) -> int:
    """The fewest pause quanta lasting at least ``time_ns`` at ``rate_bps``, capped at
    :data:`MAX_QUANTA`. As with :func:`quanta_to_ns`, pass the dilated rate when dilated."""
    _check_rate(rate_bps)
    if not time_ns >= 0:
        raise FabricTwinError(f"PFC: pause time must be >= 0 ns, got {time_ns!r}")
    q = time_ns * rate_bps / (QUANTUM_BITS * 1e9)
    if q >= MAX_QUANTA:
        return MAX_QUANTA
    return math.ceil(round(q, 6))  # round: 5.12 ns at 100 Gb/s is 1 quantum, not 2
