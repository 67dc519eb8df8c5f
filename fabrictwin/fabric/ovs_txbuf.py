"""The userspace switch's transmit buffer: how many bytes all emulated queues may hold.

With the userspace datapath, ovs-vswitchd sends every frame to every port through one
AF_PACKET socket, and a frame waiting in a port's tc queue is charged to that socket's
send buffer until the link transmits it. So the socket's SO_SNDBUF (``wmem_default``,
~208 KiB of truesize: ~100 KB of 4 KB frames) caps the sum of *all* egress queues of
the emulation; past it OVS drops frames (as ``tx_dropped``) whatever the queues' own
limits say. Lossless experiments need switch buffers of their own size, so
:func:`raised_tx_buffer` borrows the socket (``pidfd_getfd``, root only), raises its
buffer with SO_SNDBUFFORCE for the run and puts the old size back afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fabrictwin.linux.commands import run

log = logging.getLogger(__name__)

SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
#: What a run raises the switch's buffers to: the send socket holds every egress queue
#: of the emulation; the receive sockets absorb a moment the switch falls behind.
TX_BUFFER_BYTES = 64 << 20
RX_BUFFER_BYTES = 8 << 20
SYS_PIDFD_GETFD = 438  # the same number on every architecture (added in Linux 5.6)
RECORD = Path("/run/fabrictwin/ovs-buffers.json")
PID_FILES = ("/run/openvswitch/ovs-vswitchd.pid", "/var/run/openvswitch/ovs-vswitchd.pid")


def _vswitchd_pid() -> int | None:
    for f in PID_FILES:
        with contextlib.suppress(OSError, ValueError):
            return int(Path(f).read_text().strip())
    return None


def _packet_inodes(ifindexes: set[int] | None) -> set[int]:
    """Inodes of AF_PACKET sockets bound to one of ``ifindexes`` (the datapath's receive
    sockets of those ports), or, with None, bound to no interface (its send socket)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/packet").read_text().splitlines()[1:]:
            cols = line.split()
            # sk RefCnt Type Proto Iface R Rmem User Inode
            if len(cols) >= 9 and (int(cols[4]) in ifindexes if ifindexes is not None
                                   else cols[4] == "0"):
                inodes.add(int(cols[8]))
    return inodes


def _ifindexes(names: set[str]) -> set[int]:
    out = set()
    for name in names:
        with contextlib.suppress(OSError, ValueError):
            out.add(int(Path(f"/sys/class/net/{name}/ifindex").read_text()))
    return out


def _socket_fds(pid: int, ifindexes: set[int] | None = None) -> list[int]:
    wanted = _packet_inodes(ifindexes)
    fds = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
                if m and int(m.group(1)) in wanted:
                    fds.append(int(fd))
    return fds


def _borrow(pid: int, fd: int) -> socket.socket | None:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        local = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if local < 0:
        log.warning("cannot reach ovs-vswitchd's socket: %s", os.strerror(ctypes.get_errno()))
        return None
    return socket.socket(fileno=local)


@contextlib.contextmanager
def _record_locked() -> Iterator[None]:
    """The record of the raise, for one run at a time (runs beside each other share it)."""
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(RECORD.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # lets go of the lock


def _read_record() -> dict[str, Any]:
    try:
        data = json.loads(RECORD.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _owners(data: dict[str, Any]) -> list[int]:
    """Runs holding the raise that are still alive, this one excepted."""
    raw = data.get("owners", [data.get("owner", 0)])
    owners = [int(o) for o in raw if isinstance(o, int)]
    return [o for o in owners if o > 0 and o != os.getpid() and Path(f"/proc/{o}").exists()]


@contextlib.contextmanager
def raised_tx_buffer(size_bytes: int, rx_bytes: int = 0,
                     ports: set[str] = frozenset()) -> Iterator[int | None]:
    """OVS's send socket with at least ``size_bytes`` of buffer while inside (and, with
    ``rx_bytes``, the receive sockets of ``ports``, so a switch that falls behind for a
    moment does not drop what arrives); yields the old send buffer size (None when the
    socket could not be found, or another run raised it: queues stay as they are). Enter
    it once the ports exist. Runs at once share the raise: the first puts it in place and
    records the old size, the last one out puts the old size back."""
    pid = _vswitchd_pid()
    rx = [(fd, socket.SO_RCVBUF, SO_RCVBUFFORCE, rx_bytes)
          for fd in _socket_fds(pid, _ifindexes(set(ports)))] if rx_bytes and pid and ports \
        else []
    with _record_locked():
        record = _read_record()
        shared = bool(_owners(record)) and record.get("vswitchd") == pid
        if shared:
            _write_record({**record, "owners": [*_owners(record), os.getpid()]})
        else:
            _restore(record)  # a killed run's raise, put back before recording our own
        tx = [] if shared else [(fd, socket.SO_SNDBUF, SO_SNDBUFFORCE, size_bytes)
                                for fd in (_socket_fds(pid) if pid else [])]
        borrowed = [(fd, s, opt, force, size) for fd, opt, force, size in tx + rx
                    if pid and (s := _borrow(pid, fd))]
        # the kernel reports twice what was set (bookkeeping overhead)
        old = [s.getsockopt(socket.SOL_SOCKET, opt) // 2 for _fd, s, opt, _f, _n in borrowed]
        send = [(fd, _inode(pid, fd), force, o) for (fd, _s, opt, force, _n), o
                in zip(borrowed, old, strict=True) if opt == socket.SO_SNDBUF]
        if not shared and not send:
            log.warning("ovs-vswitchd's send socket not found: emulated queues stay capped")
        if send:  # so `fabrictwin clean` can put the send buffer back after a killed run
            # (receive sockets go with their ports, which a run deletes or clean does)
            _write_record({"owners": [os.getpid()], "vswitchd": pid, "sockets": send})
        for (_fd, s, _opt, force, size), o in zip(borrowed, old, strict=True):
            if o < size:
                s.setsockopt(socket.SOL_SOCKET, force, size)
    try:
        yield next((o for (_fd, _s, opt, _f, _n), o in zip(borrowed, old, strict=True)
                    if opt == socket.SO_SNDBUF), None)
    finally:
        with _record_locked():
            record = _read_record()
            others = _owners(record)
            for (_fd, s, opt, force, _size), o in zip(borrowed, old, strict=True):
                if opt != socket.SO_SNDBUF or not others:
                    with contextlib.suppress(OSError):
                        s.setsockopt(socket.SOL_SOCKET, force, o)
                s.close()
            if others:  # runs beside this one still need it: the last one puts it back
                _write_record({**record, "owners": others})
            elif record:
                _restore(record)


def _inode(pid: int | None, fd: int) -> int:
    try:
        m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
    except OSError:
        return -1
    return int(m.group(1)) if m else -1


def _write_record(data: dict[str, Any]) -> None:
    tmp = RECORD.with_name(f"{RECORD.name}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(RECORD)


def _restore(record: dict[str, Any]) -> list[str]:
    """Put back the sizes ``record`` holds (if its switch still runs); drop the record."""
    done = []
    pid = _vswitchd_pid()
    if record and pid is not None and pid == record.get("vswitchd"):
        for fd, inode, force, size in record.get("sockets", []):
            if _inode(pid, fd) != inode:
                continue  # that descriptor is another socket now: not ours to touch
            s = _borrow(pid, fd)
            if s is not None:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, force, size)
                    done.append(f"ovs-vswitchd buffer raise (socket fd {fd}, back to {size} B)")
                s.close()
    RECORD.unlink(missing_ok=True)
    return done


def restore_leftover() -> list[str]:
    """Put back the buffer sizes killed runs raised (when no run holding them is left);
    what was done."""
    if not RECORD.parent.is_dir():
        return []
    with _record_locked():
        record = _read_record()
        if not record or _owners(record):
            return []  # nothing raised, or a run is still going
        return _restore(record)


def tx_dropped(names: set[str]) -> dict[str, int]:
    """Frames OVS dropped on the interfaces in ``names``: ``tx_dropped`` (the datapath
    could not hand a frame to the port: its send buffer was full) plus ``rx_dropped``."""

    out = run(["ovs-vsctl", "--timeout=10", "--format=json", "--columns=name,statistics",
               "list", "interface"]).stdout
    drops = {}
    for name, stats in json.loads(out).get("data", []):
        if name in names and isinstance(stats, list) and stats[0] == "map":
            st = dict(stats[1])
            drops[name] = int(st.get("tx_dropped", 0)) + int(st.get("rx_dropped", 0))
    return drops


def socket_drops() -> int:
    """Frames the kernel dropped at ovs-vswitchd's packet sockets (a receive buffer full
    because the switch fell behind): counted nowhere else, not even in OVS's rx_dropped."""

    out = run(["ss", "-0", "-a", "-p", "-m"], check=False).stdout
    total = 0
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if '"ovs-vswitchd"' in line:
            text = line + (lines[i + 1] if i + 1 < len(lines) else "")
            m = re.search(r"skmem:\([^)]*\bd(\d+)\)", text)
            total += int(m.group(1)) if m else 0
    return total


def parse_lost(text: str) -> int:
    """The ``lost`` upcalls of every datapath in ``ovs-appctl dpctl/show`` output."""
    return sum(int(n) for n in re.findall(r"\blost:(\d+)", text))


def datapath_lost() -> int:
    """Packets the userspace datapath lost in upcalls (it could not hand a flow miss to
    the slow path): counted neither at the ports nor at the sockets. 0 without a
    datapath."""

    return parse_lost(run(["ovs-appctl", "dpctl/show"], check=False).stdout)

