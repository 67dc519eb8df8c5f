"""Traffic classes (pure): the policy's per-port queues, and the classifier table.

The three classes (default, lossless DSCP 26 on PFC priority 3, CNP DSCP 48 served
first) and their queues are :mod:`fabrictwin.hardware.classes`; the policy may renumber
them (``classes:`` in the policy file).

The controller tags packets with ``set_queue``; the emulator configures the queues
themselves (:func:`port_queues` is their description) on every switch port.

Pipeline: table 0 classifies (queue, optional meter) and sends ECN-capable lossless
packets (ECT(0), ECT(1), CE) to table 1, everything else to table 2. Tables 1 and 2
route on ``eth_dst``; table 1 reaches each egress port through that port's marking
group (:mod:`fabrictwin.controllers.ecn`). CE packets take table 1 too so that a flow
keeps one path whether or not an earlier hop marked it.
"""

from __future__ import annotations

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
from fabrictwin.controllers.policy import Policy
from fabrictwin.hardware.classes import (
    QUEUE_CNP,
    QUEUE_DEFAULT,
    QUEUE_LOSSLESS,
    QueueSpec,
    queue_specs,
)

TABLE_CLASSIFY, TABLE_LOSSLESS, TABLE_ROUTE = 0, 1, 2
TABLES = (TABLE_CLASSIFY, TABLE_LOSSLESS, TABLE_ROUTE)
METER_IDS = {"default": 1, "lossless": 2, "cnp": 3}
PRIO_ARP, PRIO_CNP, PRIO_LOSSLESS_ECT, PRIO_LOSSLESS, PRIO_DEFAULT = 1000, 300, 200, 190, 10
#: Meter burst: this many milliseconds at the metered rate.
METER_BURST_MS = 10.0


def port_queues(policy: Policy) -> tuple[QueueSpec, ...]:
    """The queues every switch port should carry, by queue id."""
    c = policy.classes
    return queue_specs(lossless_dscp=c.lossless_dscp, cnp_dscp=c.cnp_dscp,
                       lossless_priority=c.lossless_priority, lossless_share=c.lossless_share,
                       cnp_share=c.cnp_share, ecn=policy.ecn.enabled)


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
