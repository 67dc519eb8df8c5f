"""ARP answered from the topology (pure): no ARP frame is ever flooded.

The emulator pre-populates static ARP on every host, so this is a fallback: ARP
requests reach the controller (table 0 sends them there) and, when the target is a
host of the fabric, the reply goes back out of the port the request came in on.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Mapping

ETH_ARP = 0x0806
ARP_REQUEST, ARP_REPLY = 1, 2
_ARP = struct.Struct("!HHBBH6s4s6s4s")  # htype ptype hlen plen op sha spa tha tpa
MIN_FRAME = 60  # Ethernet minimum without FCS


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def arp_reply(frame: bytes, mac_of_ip: Mapping[str, str]) -> bytes | None:
    """The reply to an ARP request ``frame`` for a known IPv4 address, else ``None``."""
    if len(frame) < 14 + _ARP.size or struct.unpack_from("!H", frame, 12)[0] != ETH_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, ARP_REQUEST):
        return None
    target = mac_of_ip.get(str(ipaddress.IPv4Address(tpa)))
    if target is None:
        return None
    tmac = mac_bytes(target)
    reply = (sha + tmac + struct.pack("!H", ETH_ARP)
             + _ARP.pack(1, 0x0800, 6, 4, ARP_REPLY, tmac, tpa, sha, spa))
    return reply.ljust(MIN_FRAME, b"\0")


def arp_request(sender_mac: str, sender_ip: str, target_ip: str) -> bytes:
    """A broadcast ARP request (for tests and probes)."""
    sha = mac_bytes(sender_mac)
    frame = (b"\xff" * 6 + sha + struct.pack("!H", ETH_ARP)
             + _ARP.pack(1, 0x0800, 6, 4, ARP_REQUEST, sha,
                         ipaddress.IPv4Address(sender_ip).packed, b"\0" * 6,
                         ipaddress.IPv4Address(target_ip).packed))
    return frame.ljust(MIN_FRAME, b"\0")
