"""Traffic classes (pure): per-port queues as data, and the classifier table.

Three classes, as a RoCEv2 fabric runs them:

============  =====  ========  ==============================================
class         DSCP   queue id  scheduling
============  =====  ========  ==============================================
``cnp``       48     2         strict priority (CNPs must not wait behind data)
``lossless``  26     1         PFC priority 3, ECN-marked on congestion
``default``   other  0         lossy best effort
============  =====  ========  ==============================================

The controller tags packets with ``set_queue``; the emulator configures the queues
themselves (:func:`port_queues` is their description) on every switch port.

Pipeline: table 0 classifies (queue, optional meter) and sends ECN-capable lossless
packets (ECT(0), ECT(1), CE) to table 1, everything else to table 2. Tables 1 and 2
route on ``eth_dst``; table 1 reaches each egress port through that port's marking
group (:mod:`fabrictwin.controllers.ecn`). CE packets take table 1 too so that a flow
keeps one path whether or not an earlier hop marked it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrictwin.controllers.config import Policy
from fabrictwin.controllers.messages import (
    ETH_TYPE_ARP,
    ETH_TYPE_IPV4,
    OFPP_CONTROLLER,
    FlowMod,
    MeterMod,
    Output,
    SetQueue,
    match,
)

TABLE_CLASSIFY, TABLE_LOSSLESS, TABLE_ROUTE = 0, 1, 2
TABLES = (TABLE_CLASSIFY, TABLE_LOSSLESS, TABLE_ROUTE)
QUEUE_DEFAULT, QUEUE_LOSSLESS, QUEUE_CNP = 0, 1, 2
METER_IDS = {"default": 1, "lossless": 2, "cnp": 3}
PRIO_ARP, PRIO_CNP, PRIO_LOSSLESS_ECT, PRIO_LOSSLESS, PRIO_DEFAULT = 1000, 300, 200, 190, 10
#: Meter burst: this many milliseconds at the metered rate.
METER_BURST_MS = 10.0


@dataclass(frozen=True)
class QueueSpec:
    """One egress queue of every switch port."""

    queue_id: int
    traffic_class: str
    dscp: tuple[int, ...]  # DSCP values classified into it (empty: everything else)
    pfc_priority: int | None  # 802.1p priority PFC pauses in hardware (lossless only)
    strict: bool  # served before every non-strict queue
    lossless: bool  # PFC-protected in hardware: congestion marks, never drops
    ecn: bool  # the controller marks CE on it under congestion
    min_share: float  # guaranteed share of the port rate
    sched_prio: int  # scheduling order (0 first), e.g. HTB ``prio``


def port_queues(policy: Policy) -> tuple[QueueSpec, ...]:
    """The queues every switch port should carry, by queue id."""
    c = policy.classes
    return (
        QueueSpec(QUEUE_DEFAULT, "default", (), None, False, False, False,
                  1.0 - c.lossless_share - c.cnp_share, 2),
        QueueSpec(QUEUE_LOSSLESS, "lossless", (c.lossless_dscp,), c.lossless_priority, False,
                  True, policy.ecn.enabled, c.lossless_share, 1),
        QueueSpec(QUEUE_CNP, "cnp", (c.cnp_dscp,), None, True, False, False, c.cnp_share, 0),
    )


def classify_flows(dpid: int, policy: Policy) -> list[FlowMod]:
    """Table 0 and the table-miss drops of all three tables."""
    c = policy.classes
    meters = dict(policy.rate_limits_bps)

    def cls(priority: int, name: str, queue: int, goto: int, **fields: int) -> FlowMod:
        return FlowMod(dpid, "add", TABLE_CLASSIFY, priority, match(**fields),
                       (SetQueue(queue),), goto_table=goto,
                       meter_id=METER_IDS[name] if name in meters else None)

    arp_actions = (Output(OFPP_CONTROLLER),) if policy.arp == "controller" else ()
    flows = [FlowMod(dpid, "add", t, 0) for t in TABLES]  # table-miss: drop
    flows.append(FlowMod(dpid, "add", TABLE_CLASSIFY, PRIO_ARP, match(eth_type=ETH_TYPE_ARP),
                         arp_actions))
    flows.append(cls(PRIO_CNP, "cnp", QUEUE_CNP, TABLE_ROUTE, eth_type=ETH_TYPE_IPV4,
                     ip_dscp=c.cnp_dscp))
    for ecn in (1, 2, 3):
        flows.append(cls(PRIO_LOSSLESS_ECT, "lossless", QUEUE_LOSSLESS, TABLE_LOSSLESS,
                         eth_type=ETH_TYPE_IPV4, ip_dscp=c.lossless_dscp, ip_ecn=ecn))
    flows.append(cls(PRIO_LOSSLESS, "lossless", QUEUE_LOSSLESS, TABLE_ROUTE,
                     eth_type=ETH_TYPE_IPV4, ip_dscp=c.lossless_dscp))
    flows.append(cls(PRIO_DEFAULT, "default", QUEUE_DEFAULT, TABLE_ROUTE))
    return flows


def meter_mods(dpid: int, policy: Policy, dilation: float) -> list[MeterMod]:
    """One drop meter per rate-limited class, at the dilated rate."""
    mods = []
    for name, rate_bps in policy.rate_limits_bps:
        kbps = max(1, round(rate_bps / dilation / 1000))
        mods.append(MeterMod(dpid, "add", METER_IDS[name], kbps,
                             max(1, round(kbps * METER_BURST_MS / 1000))))
    return mods
