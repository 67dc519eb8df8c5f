"""RoCEv2 frames: scapy layers (BTH, AETH and CNP from ``scapy.contrib.roce``, RETH here),
frame templates for the fast path, and the ICRC.

A RoCEv2 frame is Ether / IPv4 / UDP(dport 4791) / BTH / [RETH | AETH] / payload / ICRC.
Data frames travel in the lossless class (DSCP 26) marked ECN-capable (ECT(0)) so that
switches can mark congestion (CE) instead of dropping; CNPs travel in DSCP 48, not ECT.

The ICRC (IBA 1.4 annex A17) is the CRC-32 (the zlib polynomial, stored little-endian)
of: 8 bytes of 0xFF (the pseudo-LRH), then the IP, UDP and BTH headers with the fields
a switch may rewrite masked to all ones (IP TOS, TTL and header checksum; UDP checksum;
BTH byte 4: FECN, BECN, reserved), then the rest of the frame up to the ICRC. Scapy
computes it by rebuilding the frame; :func:`icrc` does the same with one masked copy of
the headers and zlib, and :class:`FrameTemplate` keeps the CRC of the invariant
headers so the fast path only hashes what it patched (PSN, RETH, payload).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from scapy.contrib.roce import AETH, BTH, CNPPadding, cnp
from scapy.fields import IntField, XIntField, XLongField
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, bind_layers

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.classes import DSCP_CNP, DSCP_LOSSLESS

ROCE_UDP_PORT = 4791
ECN_NOT_ECT = 0b00
ECN_ECT1 = 0b01
ECN_ECT0 = 0b10
ECN_CE = 0b11
TOS_DATA = DSCP_LOSSLESS << 2 | ECN_ECT0
TOS_ACK = DSCP_LOSSLESS << 2 | ECN_NOT_ECT
TOS_CNP = DSCP_CNP << 2 | ECN_NOT_ECT

# BTH opcodes, reliable connection (RC) transport
RC_RDMA_WRITE_FIRST = 0x06
RC_RDMA_WRITE_MIDDLE = 0x07
RC_RDMA_WRITE_LAST = 0x08
RC_RDMA_WRITE_ONLY = 0x0A
RC_RDMA_WRITE_ONLY_IMM = 0x0B
RC_ACK = 0x11
CNP_OPCODE = 0x81
WRITE_OPCODES = frozenset({RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_MIDDLE, RC_RDMA_WRITE_LAST,
                           RC_RDMA_WRITE_ONLY})
RETH_OPCODES = frozenset({RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_ONLY})

# AETH syndromes: bits 7..5 are the type (0 ACK, 3 NAK), bits 4..0 credits or NAK code
AETH_ACK = 0x1F  # ACK, "invalid credit count": no end-to-end credits (unlimited)
AETH_NAK_PSN_SEQ = 0x60  # NAK, PSN sequence error

PSN_MASK = 0xFFFFFF
ETH_LEN, IP_LEN, UDP_LEN, BTH_LEN, RETH_LEN, AETH_LEN, ICRC_LEN = 14, 20, 8, 12, 16, 4, 4
#: Bytes a data frame adds around its payload (with RETH): Ether + IP + UDP + BTH + RETH + ICRC.
DATA_OVERHEAD = ETH_LEN + IP_LEN + UDP_LEN + BTH_LEN + RETH_LEN + ICRC_LEN

# Offsets (from the IP header) of what the ICRC masks
_MASK_IP_TOS, _MASK_IP_TTL, _MASK_IP_CSUM = 1, 8, 10
_MASK_UDP_CSUM = IP_LEN + 6
_MASK_BTH_RESV8A = IP_LEN + UDP_LEN + 4
_CRC_PSEUDO_LRH = zlib.crc32(b"\xff" * 8)


class RETH(Packet):
    """RDMA Extended Transport Header: where the WRITE lands at the responder."""

    name = "RETH"
    fields_desc = [XLongField("va", 0), XIntField("rkey", 0), IntField("dlen", 0)]


bind_layers(BTH, RETH, opcode=RC_RDMA_WRITE_FIRST)
bind_layers(BTH, RETH, opcode=RC_RDMA_WRITE_ONLY)


def entropy_port(src_qpn: int, dst_qpn: int) -> int:
    """UDP source port of a QP: a stable hash in 0xC000..0xFFFF, so ECMP spreads QPs."""
    h = zlib.crc32(struct.pack("!II", src_qpn, dst_qpn))
    return 0xC000 | ((h ^ (h >> 14)) & 0x3FFF)


def _headers(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int,
             tos: int) -> Packet:
    # chksum=0: a zero UDP checksum is allowed (and what RoCEv2 NICs send) over IPv4
    return (Ether(src=src_mac, dst=dst_mac) / IP(src=src_ip, dst=dst_ip, tos=tos, flags="DF")
            / UDP(sport=sport, dport=ROCE_UDP_PORT, chksum=0))


def write_frame(*, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int,
                dqpn: int, opcode: int, psn: int = 0, payload: bytes = b"",
                va: int = 0, rkey: int = 0, dlen: int = 0, ackreq: bool = False,
                tos: int = TOS_DATA) -> Packet:
    """An RC RDMA WRITE frame (scapy); RETH on FIRST/ONLY. Payload is padded to 4 bytes."""
    if opcode not in WRITE_OPCODES:
        raise FabricTwinError(f"opcode: not an RC RDMA WRITE opcode: {opcode:#x}")
    pad = -len(payload) % 4
    bth = BTH(opcode=opcode, dqpn=dqpn, psn=psn & PSN_MASK, ackreq=int(ackreq), padcount=pad)
    pkt = _headers(src_mac, dst_mac, src_ip, dst_ip, sport, tos) / bth
    if opcode in RETH_OPCODES:
        pkt = pkt / RETH(va=va, rkey=rkey, dlen=dlen)
    return pkt / Raw(payload + b"\0" * pad) if payload or pad else pkt


def ack_frame(*, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int,
              dqpn: int, psn: int, syndrome: int = AETH_ACK, msn: int = 0,
              tos: int = TOS_ACK) -> Packet:
    """An RC ACKNOWLEDGE (ACK or NAK, by ``syndrome``) carrying an AETH."""
    return (_headers(src_mac, dst_mac, src_ip, dst_ip, sport, tos)
            / BTH(opcode=RC_ACK, dqpn=dqpn, psn=psn & PSN_MASK)
            / AETH(syndrome=syndrome, msn=msn & PSN_MASK))


def cnp_frame(*, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int,
              dqpn: int, tos: int = TOS_CNP) -> Packet:
    """A RoCEv2 congestion notification packet to the sender of QP ``dqpn``."""
    return _headers(src_mac, dst_mac, src_ip, dst_ip, sport, tos) / cnp(dqpn)


def _masked_headers(frame: bytes | bytearray | memoryview, ip_off: int) -> bytearray:
    h = bytearray(frame[ip_off:ip_off + IP_LEN + UDP_LEN + BTH_LEN])
    h[_MASK_IP_TOS] = h[_MASK_IP_TTL] = 0xFF
    h[_MASK_IP_CSUM:_MASK_IP_CSUM + 2] = b"\xff\xff"
    h[_MASK_UDP_CSUM:_MASK_UDP_CSUM + 2] = b"\xff\xff"
    h[_MASK_BTH_RESV8A] = 0xFF
    return h


def icrc(frame: bytes | bytearray | memoryview, ip_off: int = ETH_LEN) -> int:
    """The ICRC a RoCEv2-over-IPv4 frame (with its 4 ICRC bytes at the end) should carry."""
    crc = zlib.crc32(_masked_headers(frame, ip_off), _CRC_PSEUDO_LRH)
    return zlib.crc32(memoryview(frame)[ip_off + IP_LEN + UDP_LEN + BTH_LEN:-ICRC_LEN], crc)


def icrc_ok(frame: bytes | bytearray | memoryview, ip_off: int = ETH_LEN) -> bool:
    return len(frame) >= ip_off + IP_LEN + UDP_LEN + BTH_LEN + ICRC_LEN and \
        struct.unpack_from("<I", frame, len(frame) - ICRC_LEN)[0] == icrc(frame, ip_off)


@dataclass(frozen=True)
class FrameTemplate:
    """A complete, valid frame plus the offsets the fast path patches.

    ``seed`` is the CRC of the pseudo-LRH and the masked headers up to (not including)
    the BTH's ackreq/PSN word: it does not change when PSN, RETH or payload do, so the
    fast path continues the CRC from ``crc_from`` (= ``psn_off``) to ``icrc_off``.
    """

    frame: bytes
    opcode: int
    payload_len: int  # bytes on the wire, padding included
    pad: int
    ip_off: int
    psn_off: int      # 32-bit word: ackreq bit (31), reserved, 24-bit PSN
    va_off: int       # RETH virtual address (64 bit); -1 without RETH
    aeth_off: int     # AETH syndrome byte; -1 without AETH
    payload_off: int
    icrc_off: int
    seed: int

    def patched(self, *, psn: int, ackreq: bool = False, va: int | None = None,
                payload: bytes | None = None) -> bytearray:
        """A copy with PSN (and VA, payload) replaced and the ICRC recomputed (reference path)."""
        buf = bytearray(self.frame)
        struct.pack_into(">I", buf, self.psn_off, (ackreq << 31) | (psn & PSN_MASK))
        if va is not None:
            if self.va_off < 0:
                raise FabricTwinError(f"opcode {self.opcode:#x} carries no RETH")
            struct.pack_into(">Q", buf, self.va_off, va)
        if payload is not None:
            if len(payload) != self.payload_len - self.pad:
                raise FabricTwinError(f"payload: expected {self.payload_len - self.pad} bytes, "
                                      f"got {len(payload)}")
            buf[self.payload_off:self.payload_off + len(payload)] = payload
        self.seal(buf)
        return buf

    def seal(self, buf: bytearray) -> None:
        """Write the ICRC of ``buf`` (a patched copy of this template) into it."""
        crc = zlib.crc32(memoryview(buf)[self.psn_off:self.icrc_off], self.seed)
        struct.pack_into("<I", buf, self.icrc_off, crc)


def template(pkt: Packet) -> FrameTemplate:
    """Build ``pkt`` once with scapy and locate the fields the fast path patches."""
    frame = bytes(pkt)
    if IP not in pkt or UDP not in pkt or BTH not in pkt:
        raise FabricTwinError("template: expected an Ether/IP/UDP/BTH frame")
    ip_off = len(frame) - len(bytes(pkt[IP]))
    if frame[ip_off] != 0x45:
        raise FabricTwinError("template: IPv4 options are not supported")
    bth_off = ip_off + IP_LEN + UDP_LEN
    psn_off = bth_off + 8
    opcode = frame[bth_off]
    after = bth_off + BTH_LEN
    va_off = aeth_off = -1
    if RETH in pkt:
        va_off, after = after, after + RETH_LEN
    if AETH in pkt:
        aeth_off, after = after, after + AETH_LEN
    if CNPPadding in pkt:
        after += 16
    icrc_off = len(frame) - ICRC_LEN
    seed = zlib.crc32(_masked_headers(frame, ip_off)[:IP_LEN + UDP_LEN + 8], _CRC_PSEUDO_LRH)
    return FrameTemplate(frame, opcode, icrc_off - after, (frame[bth_off + 1] >> 4) & 3,
                         ip_off, psn_off, va_off, aeth_off, after, icrc_off, seed)
