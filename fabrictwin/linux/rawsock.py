"""AF_PACKET sockets on one interface, and classic BPF filters for them.

The agents, the delay lines, the PFC daemon and the PFC-storm generator all read and
write whole Ethernet frames; they open their sockets here, with the options each needs.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Sequence

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.names import check_name

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20  # send straight to the driver, past the qdisc (as a NIC's MAC does)
PACKET_IGNORE_OUTGOING = 23  # Linux >= 4.20: do not read back our own transmissions
SO_ATTACH_FILTER = 26

#: A filter that accepts nothing: a send-only socket's receive queue stays empty.
ACCEPT_NOTHING: tuple[tuple[int, int, int, int], ...] = ((0x06, 0, 0, 0),)  # ret #0

BpfProgram = Sequence[tuple[int, int, int, int]]


def attach_bpf(sock: socket.socket, prog: BpfProgram) -> None:
    """Attach a classic BPF program ((code, jt, jf, k) per instruction) to ``sock``; the
    kernel copies it, so the buffer need not outlive the call."""
    buf = (ctypes.c_ubyte * (8 * len(prog)))()
    for i, ins in enumerate(prog):
        struct.pack_into("HBBI", buf, 8 * i, *ins)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                    struct.pack("HL", len(prog), ctypes.addressof(buf)))


def open_raw(ifname: str, *, bpf: BpfProgram | None = None, ignore_outgoing: bool = False,
             qdisc_bypass: bool = False, buf_bytes: int = 0, blocking: bool = False,
             what: str = "raw socket") -> socket.socket:
    """An AF_PACKET socket bound to ``ifname`` (checked first) seeing every protocol.

    ``bpf`` filters what it receives; ``buf_bytes`` sets both socket buffers. Failure is
    one line naming the interface and ``what`` the socket was for.
    """
    check_name(ifname)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        if bpf is not None:
            attach_bpf(s, bpf)
        if ignore_outgoing:
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        if qdisc_bypass:
            s.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        if buf_bytes:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buf_bytes)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buf_bytes)
        s.bind((ifname, 0))
    except OSError as e:
        s.close()
        raise FabricTwinError(f"interface {ifname}: cannot open a {what}: {e}") from None
    s.setblocking(blocking)
    return s
