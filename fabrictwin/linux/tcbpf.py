"""Random loss or corruption on an interface's egress, by a tc eBPF program (root).

This kernel has no netem, no ``gact`` (whose ``random`` would drop a fraction) and no
``pedit``; it has ``clsact`` and ``cls_bpf``. So a fault is a few eBPF instructions,
built here by hand (no compiler needed), loaded with the ``bpf(2)`` system call and
attached as a direct-action ``cls_bpf`` filter on the interface's *clsact egress* hook
(an ``RTM_NEWTFILTER`` message carrying the program's fd). That hook runs before the
root qdisc, so the port's HTB classes and their DSCP filters are untouched; removing
the ``clsact`` qdisc removes the fault.

- loss: with probability p (``bpf_get_prandom_u32() < p * 2**32``) the frame is taken
  away (``TC_ACT_STOLEN``: the sender is told it went, as a wire would; ``TC_ACT_SHOT``
  would fail its ``send`` with ENOBUFS);
- corruption: with probability p one byte of the frame, :data:`CORRUPT_OFFSET`, is
  inverted (``bpf_skb_store_bytes``) and the frame goes on. Byte 45 is in a RoCEv2
  frame's BTH (the P_Key's low byte), which the ICRC covers: the receiving agent counts
  an ``icrc_errors`` and drops the frame, and the RC transport retransmits it. Frames
  shorter than 46 bytes (ARP) pass unchanged; MAC/IP/UDP headers and DSCP are never
  touched, so the frame is still forwarded and classified as before.

:func:`program`, :func:`prog_load_attr` and :func:`filter_message` are pure (bytes out),
for tests; :func:`attach` and :func:`detach` act on the machine.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import subprocess

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.names import check_name

CORRUPT_OFFSET = 45  # BTH P_Key (low byte) of a RoCEv2 frame: ICRC-covered, not forwarded on
TC_ACT_OK, TC_ACT_STOLEN = 0, 4
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_PROG_LOAD = 5
SYS_BPF = {"x86_64": 321, "aarch64": 280}
# helpers (linux/bpf.h's enum bpf_func_id)
GET_PRANDOM_U32, SKB_STORE_BYTES, SKB_LOAD_BYTES = 7, 9, 26
# rtnetlink
RTM_NEWTFILTER = 44
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
TCA_BPF_FLAG_ACT_DIRECT = 1
CLSACT_EGRESS = 0xFFFFFFF3  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
ETH_P_ALL = 0x0003
KINDS = ("loss", "corrupt")


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _mov_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, imm=imm)          # BPF_ALU64 | BPF_MOV | BPF_K


def _mov_reg(dst: int, src: int) -> bytes:
    return _insn(0xBF, dst, src)              # BPF_ALU64 | BPF_MOV | BPF_X


def _call(helper: int) -> bytes:
    return _insn(0x85, imm=helper)            # BPF_JMP | BPF_CALL


EXIT = _insn(0x95)                            # BPF_JMP | BPF_EXIT


def threshold(rate: float) -> int:
    """``rate`` (0 < rate <= 1) as the bound a 32-bit random number falls under.

    >>> threshold(0.01), threshold(1.0)
    (42949673, 4294967295)
    """
    if not 0 < rate <= 1:
        raise FabricTwinError(f"rate must be in (0, 1], got {rate!r}")
    return min(round(rate * 2**32), 2**32 - 1)


def program(kind: str, rate: float) -> bytes:
    """The eBPF instructions of a ``loss`` or ``corrupt`` fault at ``rate`` (0..1).

    >>> len(program("loss", 0.01)) // 8, len(program("corrupt", 0.005)) // 8
    (6, 22)
    """
    if kind not in KINDS:
        raise FabricTwinError(f"tc fault kind {kind!r}: expected loss or corrupt")
    bound = threshold(rate)
    # JMP32 | JGE | K: (u32) r0 >= (u32) imm -> skip `off` instructions
    imm = bound - 2**32 if bound >= 2**31 else bound

    def unless_hit(off: int) -> bytes:
        return _insn(0x36, 0, off=off, imm=imm)

    if kind == "loss":
        return b"".join([_call(GET_PRANDOM_U32), unless_hit(2),
                         _mov_imm(0, TC_ACT_STOLEN), EXIT,
                         _mov_imm(0, TC_ACT_OK), EXIT])
    slot = -8  # one byte on the stack, below r10

    def bytes_args() -> list[bytes]:  # r1 = skb, r2 = offset, r3 = the slot, r4 = 1
        return [_mov_reg(1, 6), _mov_imm(2, CORRUPT_OFFSET), _mov_reg(3, 10),
                _insn(0x07, 3, imm=slot), _mov_imm(4, 1)]   # BPF_ALU64 | BPF_ADD | BPF_K

    flip = [_insn(0x71, 1, 10, off=slot),                      # r1 = *(u8 *)(r10 - 8)
            _insn(0xA7, 1, imm=0xFF),                          # r1 ^= 0xff
            _insn(0x73, 10, 1, off=slot),                      # *(u8 *)(r10 - 8) = r1
            *bytes_args(), _mov_imm(5, 0), _call(SKB_STORE_BYTES)]
    body = [*bytes_args(), _call(SKB_LOAD_BYTES),
            _insn(0x55, 0, off=len(flip), imm=0),              # r0 != 0: too short, pass
            *flip]
    return b"".join([_mov_reg(6, 1), _call(GET_PRANDOM_U32), unless_hit(len(body)), *body,
                     _mov_imm(0, TC_ACT_OK), EXIT])


def prog_load_attr(insns: ctypes.Array, license_: ctypes.Array, log: ctypes.Array) -> bytes:
    """``union bpf_attr`` for ``BPF_PROG_LOAD`` of a ``sched_cls`` program."""
    head = struct.pack("=IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(insns) // 8,
                       ctypes.addressof(insns), ctypes.addressof(license_), 1, len(log),
                       ctypes.addressof(log), 0, 0, b"fabrictwin")
    return head + bytes(128 - len(head))


def load(code: bytes) -> int:
    """Load ``code`` as a ``sched_cls`` program; its fd (the verifier's last line on
    refusal)."""
    nr = SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise FabricTwinError(f"bpf(2): unknown system call number on {os.uname().machine}")
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(prog_load_attr(insns, lic, log), 128)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(nr, BPF_PROG_LOAD, attr, 128)
    if fd < 0:
        err = ctypes.get_errno()
        why = log.value.decode(errors="replace").strip().splitlines()
        raise FabricTwinError(f"bpf(2): cannot load the fault's program: {os.strerror(err)}"
                              + (f" ({why[-1]})" if why else ""))
    return fd


def _attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + bytes(-len(payload) % 4)


def filter_message(ifindex: int, prog_fd: int, name: str, seq: int = 1, prio: int = 1) -> bytes:
    """``RTM_NEWTFILTER``: a direct-action ``bpf`` filter with ``prog_fd`` on ``ifindex``'s
    clsact egress hook, for every protocol."""
    tcmsg = struct.pack("=BxxxiIII", socket.AF_UNSPEC, ifindex, 0, CLSACT_EGRESS,
                        (prio << 16) | socket.htons(ETH_P_ALL))
    options = (_attr(TCA_BPF_FD, struct.pack("=I", prog_fd))
               + _attr(TCA_BPF_NAME, name.encode() + b"\0")
               + _attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT)))
    body = tcmsg + _attr(TCA_KIND, b"bpf\0") + _attr(TCA_OPTIONS | 0x8000, options)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE
    return struct.pack("=IHHII", 16 + len(body), RTM_NEWTFILTER, flags, seq, 0) + body


def _tc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], capture_output=True, text=True, check=False)


def attach(intf: str, kind: str, rate: float) -> None:
    """From now on, ``rate`` of the frames leaving ``intf`` are lost or corrupted."""
    check_name(intf)
    fd = load(program(kind, rate))
    try:
        out = _tc("qdisc", "replace", "dev", intf, "clsact")
        if out.returncode:
            raise FabricTwinError(f"tc qdisc replace dev {intf} clsact: "
                                  f"{out.stderr.strip() or out.returncode}")
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as nl:  # NETLINK_ROUTE
            nl.sendto(filter_message(socket.if_nametoindex(intf), fd, f"ft-{kind}"), (0, 0))
            reply = nl.recv(65536)
        kind_, = struct.unpack_from("=H", reply, 4)
        error, = struct.unpack_from("=i", reply, 16) if kind_ == NLMSG_ERROR else (0,)
        if error:
            detach(intf)
            raise FabricTwinError(f"{intf}: cannot attach the {kind} filter: "
                                  f"{os.strerror(-error)}")
    finally:
        os.close(fd)  # the filter holds the program now


def detach(intf: str) -> None:
    """Remove every fault filter of ``intf`` (its clsact qdisc); harmless when none."""
    check_name(intf)
    _tc("qdisc", "del", "dev", intf, "clsact")
