"""Loss and corruption by a tc eBPF program: the instructions run by a small interpreter of
the few opcodes they use, the netlink message, and (root, in a network namespace of its
own) the measured rates on a veth pair."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import uuid

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.tcbpf import (
    CLSACT_EGRESS,
    CORRUPT_OFFSET,
    GET_PRANDOM_U32,
    RTM_NEWTFILTER,
    SKB_LOAD_BYTES,
    SKB_STORE_BYTES,
    TC_ACT_OK,
    TC_ACT_STOLEN,
    filter_message,
    program,
    threshold,
)
from fabrictwin.protocols.roce import RC_RDMA_WRITE_ONLY, icrc_ok, write_frame

M64 = 2**64 - 1


def run(code: bytes, frame: bytearray, rand: int) -> int:
    """Run ``code`` on ``frame`` with ``bpf_get_prandom_u32`` returning ``rand``."""
    regs = [0] * 11
    regs[10] = 512  # frame pointer: stack[0:512]
    stack = bytearray(512)
    pc, steps = 0, 0
    while True:
        steps += 1
        assert steps < 1000
        code_, regs_b, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        dst, src = regs_b & 0xF, regs_b >> 4
        pc += 1
        if code_ == 0xB7:
            regs[dst] = imm & M64
        elif code_ == 0xBF:
            regs[dst] = regs[src]
        elif code_ == 0x07:
            regs[dst] = (regs[dst] + imm) & M64
        elif code_ == 0xA7:
            regs[dst] ^= imm & M64
        elif code_ == 0x71:
            regs[dst] = stack[regs[src] + off]
        elif code_ == 0x73:
            stack[regs[dst] + off] = regs[src] & 0xFF
        elif code_ == 0x36:  # jge32, unsigned
            if regs[dst] & 0xFFFFFFFF >= imm & 0xFFFFFFFF:
                pc += off
        elif code_ == 0x55:
            if regs[dst] != imm & M64:
                pc += off
        elif code_ == 0x85:
            if imm == GET_PRANDOM_U32:
                regs[0] = rand
            elif imm in (SKB_LOAD_BYTES, SKB_STORE_BYTES):
                at, ptr, n = regs[2], regs[3], regs[4]
                if at + n > len(frame):
                    regs[0] = (-14) & M64  # -EFAULT
                else:
                    if imm == SKB_LOAD_BYTES:
                        stack[ptr:ptr + n] = frame[at:at + n]
                    else:
                        frame[at:at + n] = stack[ptr:ptr + n]
                    regs[0] = 0
            else:
                raise AssertionError(f"helper {imm}")
            regs[1:6] = [0xDEAD] * 5  # clobbered by calls
        elif code_ == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"opcode {code_:#x}")


def roce_frame() -> bytearray:
    return bytearray(bytes(write_frame(src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02",
                                       src_ip="10.0.0.1", dst_ip="10.0.0.2", sport=49152,
                                       dqpn=9, opcode=RC_RDMA_WRITE_ONLY, payload=b"x" * 64)))


def test_loss_drops_the_frames_whose_random_number_falls_under_the_rate():
    code = program("loss", 0.01)
    bound = threshold(0.01)
    for rand, want in ((0, TC_ACT_STOLEN), (bound - 1, TC_ACT_STOLEN), (bound, TC_ACT_OK),
                       (2**32 - 1, TC_ACT_OK)):
        frame = roce_frame()
        assert run(code, frame, rand) == want
        assert frame == roce_frame()  # loss never edits
    assert run(program("loss", 1.0), roce_frame(), 2**32 - 2) == TC_ACT_STOLEN
    # a rate above one half: its bound does not fit a signed immediate
    assert run(program("loss", 0.75), roce_frame(), 2**31 + 2**30 - 1) == TC_ACT_STOLEN
    assert run(program("loss", 0.75), roce_frame(), 2**31 + 2**30 + 1) == TC_ACT_OK


def test_corruption_inverts_one_icrc_covered_byte_and_passes_the_frame():
    code = program("corrupt", 0.005)
    frame = roce_frame()
    assert icrc_ok(frame)
    assert run(code, frame, 0) == TC_ACT_OK
    changed = [i for i, (a, b) in enumerate(zip(frame, roce_frame(), strict=True)) if a != b]
    assert changed == [CORRUPT_OFFSET] and frame[CORRUPT_OFFSET] == roce_frame()[45] ^ 0xFF
    assert not icrc_ok(frame)  # the receiving agent counts an icrc_errors and drops it
    missed = roce_frame()
    assert run(code, missed, threshold(0.005)) == TC_ACT_OK and missed == roce_frame()
    arp = bytearray(42)  # shorter than the byte: passes unchanged
    assert run(code, arp, 0) == TC_ACT_OK and arp == bytearray(42)


def test_bad_rates_and_kinds_are_refused_in_one_line():
    for rate in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(FabricTwinError, match="rate must be in"):
            program("loss", rate)
    with pytest.raises(FabricTwinError, match="expected loss or corrupt"):
        program("delay", 0.1)


def test_the_filter_message_asks_for_a_direct_action_bpf_filter_on_clsact_egress():
    msg = filter_message(7, 42, "ft-loss", seq=3)
    length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", msg)
    assert (length, kind, seq) == (len(msg), RTM_NEWTFILTER, 3)
    _fam, ifindex, handle, parent, info = struct.unpack_from("=BxxxiIII", msg, 16)
    assert (ifindex, handle, parent) == (7, 0, CLSACT_EGRESS)
    assert info >> 16 == 1 and info & 0xFFFF == socket.htons(3)  # every protocol
    assert b"bpf\0" in msg and b"ft-loss\0" in msg
    assert struct.pack("=HHI", 8, 6, 42) in msg        # TCA_BPF_FD
    assert struct.pack("=HHI", 8, 8, 1) in msg         # TCA_BPF_FLAGS: direct action


PROBE = r"""
import socket, sys, time
from fabrictwin.linux import tcbpf
kind, rate, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
tcbpf.attach("ftpa", kind, rate)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); tx.bind(("ftpa", 0))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); rx.bind(("ftpb", 0))
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24); rx.setblocking(False)
frame = b"\x02" * 6 + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + bytes(range(200))
got = bad = 0
def drain():
    global got, bad
    while True:
        try:
            f = rx.recv(2048)
        except BlockingIOError:
            return
        if f[6:12] == frame[6:12]:
            got += 1
            bad += f != frame
for i in range(n):
    tx.send(frame)
    if i % 200 == 0:
        drain()
time.sleep(0.3)
drain()
tcbpf.detach("ftpa")
print(got, bad)
"""


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize("kind", ["loss", "corrupt"])
def test_measured_rates_on_a_veth_pair_in_a_namespace_of_its_own(kind):
    ns = f"ftbpf{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True,
                                  capture_output=True, text=True)
        sh("ip", "link", "add", "ftpa", "type", "veth", "peer", "name", "ftpb")
        sh("ip", "link", "set", "ftpa", "up")
        sh("ip", "link", "set", "ftpb", "up")
        n = 20_000
        out = sh(sys.executable, "-c", PROBE, kind, "0.05", str(n))
        got, bad = map(int, out.stdout.split())
        if kind == "loss":
            assert 0.04 < (n - got) / n < 0.06 and bad == 0
        else:
            assert got == n and 0.04 < bad / n < 0.06
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
