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
#: Queue length of a link whose hardware never drops (scale-up links: NVLink-class
#: fabrics are lossless by credit-based flow control): more than every sender's window
#: can put in it, so the queue holds what the hardware would hold back at the sender.
CREDIT_QUEUE_PACKETS = 1_000_000
#: Tiers whose links are lossless in hardware by credit-based flow control (no PFC there).
CREDIT_TIERS = ("scale-up",)


def default_queues() -> tuple[QueueSpec, ...]:
    return queue_specs()


def classid(q: QueueSpec) -> str:
    return f"1:{10 + q.queue_id}"


def tc_lines(intf: str, rate_bps: float, delay_ns: float, netem: bool,
             queues: Sequence[QueueSpec], credit: bool = False) -> list[str]:
    """tc batch lines for one interface: HTB classes per queue, DSCP filters, netem.

    ``credit``: the link is lossless in hardware by credit-based flow control, so its
    queues never drop (each class's leaf is a FIFO of :data:`CREDIT_QUEUE_PACKETS`).
    Otherwise a class's leaf is HTB's default FIFO (the interface's txqueuelen)."""
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
                         f"{10 + q.queue_id}: netem delay {delay_ns / 1000:.3f}us limit "
                         f"{CREDIT_QUEUE_PACKETS if credit else 100000}")
        elif credit:
            lines.append(f"qdisc replace dev {intf} parent {classid(q)} handle "
                         f"{10 + q.queue_id}: pfifo limit {CREDIT_QUEUE_PACKETS}")
        for dscp in q.dscp:
            lines.append(f"filter add dev {intf} parent 1: protocol ip prio 1 u32 match ip "
                         f"dsfield {dscp << 2:#04x} 0xfc flowid {classid(q)}")
    return lines
