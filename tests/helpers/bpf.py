"""A classic-BPF interpreter for the socket filters' tests (no root, no kernel)."""

from __future__ import annotations


def run_bpf(prog, frame: bytes) -> int:
    """Run ``prog`` ((code, jt, jf, k) per instruction) on ``frame``: the opcodes our
    filters use (ldh/ldb [k], jeq #k, ret #k); returns the accepted length (0: dropped)."""
    acc, pc = 0, 0
    for _ in range(len(prog) + 1):
        code, jt, jf, k = prog[pc]
        pc += 1
        if code in (0x28, 0x30):  # BPF_LD | BPF_H / BPF_B | BPF_ABS
            size = 2 if code == 0x28 else 1
            if k + size > len(frame):
                return 0  # the kernel drops the packet on an out-of-bounds load
            acc = int.from_bytes(frame[k:k + size], "big")
        elif code == 0x15:  # BPF_JMP | BPF_JEQ | BPF_K
            pc += jt if acc == k else jf
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"opcode {code:#x} not in the test interpreter")
    raise AssertionError("the filter loops")
