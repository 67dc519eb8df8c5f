"""The lossless class's queue as tc sees it: a TBF under the port's HTB class.

The TBF runs at the link's (dilated) rate, so normally it only holds frames; its
``limit`` is the queue's buffer. To pause, its rate drops to 1 kbit/s: TBF checks
tokens *before* it releases a frame, so nothing leaves but at most the one frame its
bucket (``burst`` = one maximal frame) still allows, like the frame a real port has
already started when a PAUSE arrives. A change resets the bucket, so resuming takes
effect at once. (HTB alone cannot do this: its tokens go 60 s negative on the one frame
it lets through at a tiny rate, and this kernel has no ``plug`` qdisc.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.classes import QueueSpec
from fabrictwin.linux.names import check_name
from fabrictwin.linux.rtnetlink import QdiscReader, tc_handle

PAUSED_RATE_BPS = 1000
DROP_LIMIT_BYTES = 1  # the watchdog's ``drop``: every frame is over the limit


@dataclass(frozen=True)
class LosslessQueue:
    """The lossless class of one port: where it sits and its normal shape."""

    intf: str
    parent: str    # HTB class id, e.g. "1:11"
    handle: str    # the TBF's handle, e.g. "11:"
    rate_bps: int
    burst_bytes: int
    limit_bytes: int

    def __post_init__(self) -> None:
        check_name(self.intf)
        if not (re.fullmatch(r"\d+:\d+", self.parent) and re.fullmatch(r"\d+:", self.handle)):
            raise FabricTwinError(f"pfc: queue of {self.intf}: bad tc ids "
                                  f"{self.parent!r} / {self.handle!r}")
        if min(self.rate_bps, self.burst_bytes, self.limit_bytes) <= 0:
            raise FabricTwinError(f"pfc: queue of {self.intf}: rate, burst and limit must be "
                                  "positive")

    def line(self, verb: str = "replace", *, paused: bool = False, drop: bool = False) -> str:
        rate = PAUSED_RATE_BPS if paused else self.rate_bps
        limit = DROP_LIMIT_BYTES if drop else self.limit_bytes
        return (f"qdisc {verb} dev {self.intf} parent {self.parent} handle {self.handle} "
                f"tbf rate {rate}bit burst {self.burst_bytes} limit {limit}")


def lossless_queue(intf: str, q: QueueSpec, rate_bps: float, mtu_bytes: int,
                   limit_bytes: int) -> LosslessQueue:
    n = 10 + q.queue_id
    # the bucket holds one maximal frame: the MTU plus Ethernet header, VLAN tag and FCS
    return LosslessQueue(intf, f"1:{n}", f"{n}:", int(rate_bps), mtu_bytes + 22,
                         max(limit_bytes, mtu_bytes + 22))


@dataclass(frozen=True)
class LeafStats:
    backlog_bytes: int
    drops: int
    sent_bytes: int


def read_leaves(handle: str, reader: QdiscReader) -> dict[str, LeafStats]:
    """Statistics of every root-namespace TBF with ``handle`` (one per port), by device."""
    want = tc_handle(handle)
    return {reader.name(q.ifindex): LeafStats(q.backlog, q.drops, q.bytes)
            for q in reader.dump(lambda h, _p: h == want) if q.kind == "tbf"}
