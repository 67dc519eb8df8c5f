"""Deterministic addresses derived from node order in the topology graph.

Host ``i`` (0-based, in the graph's node order, which each builder fixes) gets
IPv4 ``10.0.0.0/8 + i + 1`` and MAC ``02:00:00:`` + the low 24 bits of ``i + 1``
(locally administered, unicast). Switch ``j`` gets DPID ``j + 1`` as 16 hex
digits. The same spec therefore always yields the same addresses.
"""

from __future__ import annotations

import ipaddress

from fabrictwin.errors import FabricTwinError

MAX_HOSTS = 2**24 - 2


def host_ip(index: int) -> str:
    if not 0 <= index < MAX_HOSTS:
        raise FabricTwinError(f"host index {index} outside 10.0.0.0/8")
    return str(ipaddress.IPv4Address(0x0A000000 + index + 1))


def host_mac(index: int) -> str:
    if not 0 <= index < MAX_HOSTS:
        raise FabricTwinError(f"host index {index} outside the MAC range")
    n = index + 1
    return f"02:00:00:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}"


def switch_dpid(index: int) -> str:
    return f"{index + 1:016x}"
