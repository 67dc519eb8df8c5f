"""Per-class egress queues on every emulated port, as tc HTB classes.

The fabric's traffic classes (:mod:`fabrictwin.hardware.classes`: default, lossless
DSCP 26, CNP DSCP 48) become HTB leaf classes under one class at
the port's dilated rate. Each is guaranteed its share and may borrow up to the full
rate; HTB ``prio`` serves CNPs first when classes compete for spare rate (this kernel
has no strict-priority qdisc). Frames are classified by DSCP with u32 filters, in
the kernel, so it works whatever the switch's datapath does with OpenFlow set_queue.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabrictwin.hardware.classes import QueueSpec, queue_specs

MIN_CLASS_BPS = 8_000  # HTB needs a positive guaranteed rate
QUANTUM_BYTES = 9_000  # one jumbo frame per DRR round among borrowing classes


def default_queues() -> tuple[QueueSpec, ...]:
    return queue_specs()


def classid(q: QueueSpec) -> str:
    return f"1:{10 + q.queue_id}"


def tc_lines(intf: str, rate_bps: float, delay_ns: float, netem: bool,
             queues: Sequence[QueueSpec]) -> list[str]:
    """tc batch lines for one interface: HTB classes per queue, DSCP filters, netem."""
    default = next(q for q in queues if not q.dscp)
    rate = int(rate_bps)
    lines = [f"qdisc replace dev {intf} root handle 1: htb default {10 + default.queue_id}",
             f"class replace dev {intf} parent 1: classid 1:1 htb rate {rate}bit "
             f"ceil {rate}bit"]
    for q in queues:
        share = max(MIN_CLASS_BPS, int(rate_bps * q.min_share))
        # an explicit quantum: HTB's default (rate / r2q) is oversized at these rates
        lines.append(f"class replace dev {intf} parent 1:1 classid {classid(q)} htb rate "
                     f"{share}bit ceil {rate}bit prio {q.sched_prio} quantum {QUANTUM_BYTES}")
        if netem and delay_ns > 0:
            lines.append(f"qdisc replace dev {intf} parent {classid(q)} handle "
                         f"{10 + q.queue_id}: netem delay {delay_ns / 1000:.3f}us limit 100000")
        for dscp in q.dscp:
            lines.append(f"filter add dev {intf} parent 1: protocol ip prio 1 u32 match ip "
                         f"dsfield {dscp << 2:#04x} 0xfc flowid {classid(q)}")
    return lines
