"""Translation of the core's messages into os_ken (or Ryu) message objects.

It never imports os_ken: every class comes from the datapath's own ``ofproto`` and
``ofproto_parser`` modules, so the same code serves OpenFlow 1.3, 1.4 and 1.5,
whichever version a switch negotiated.

Select groups and UDP ports: Open vSwitch's default select-group hash (``dp_hash``
with its symmetric L3/L4 hash, or, when the weights do not fit its hash table, the
slow-path default) covers IP addresses and TCP ports but never UDP ports (measured on
OVS 3.1: 400 flows differing only in UDP source port all took one bucket). RoCEv2's
per-QP entropy is the UDP source port, so over OpenFlow 1.5 every select group carries
OVS's ``selection_method=hash`` property (a Netronome extension, OpenFlow 1.5 only)
over the IPv4 5-tuple, with a hash basis of its own per switch and group. Over 1.3
and 1.4 no selection method can be set and flows between two hosts share one path.
"""

from __future__ import annotations

import struct
from typing import Any

from fabrictwin.controllers.messages import (
    Barrier,
    FlowMod,
    GroupAction,
    GroupMod,
    Message,
    MeterMod,
    Output,
    PacketOut,
    SetField,
    SetQueue,
)

OFP15 = 0x06
NTR_VENDOR_ID, NTRT_SELECTION_METHOD = 0x0000154D, 1
#: OXM (field number, bytes) OVS hashes for select groups over OpenFlow 1.5: the IPv4
#: 5-tuple, with UDP ports for RoCEv2 (its entropy is the UDP source port) and TCP
#: ports for the rest. OVS skips the fields a packet does not have.
HASH_FIELDS = ((11, 4), (12, 4), (10, 1), (15, 2), (16, 2), (13, 2), (14, 2))


class SelectionMethod:
    """OVS's group property (a Netronome extension, OpenFlow 1.5 only) choosing how a
    select group hashes flows: ``hash`` over ``HASH_FIELDS`` with basis ``param``.

    Without it OVS hashes IP addresses and TCP ports but never UDP ports, so every
    RoCEv2 QP between two hosts would take the same path.
    """

    def __init__(self, param: int, method: str = "hash") -> None:
        self.param, self.method = param, method

    def serialize(self) -> bytes:
        tlvs = b"".join(struct.pack("!I", 0x8000 << 16 | field << 9 | size) + b"\xff" * size
                        for field, size in HASH_FIELDS)
        prop = struct.pack("!HHIII16sQ", 0xFFFF, 40 + len(tlvs), NTR_VENDOR_ID,
                           NTRT_SELECTION_METHOD, 0, self.method.encode(), self.param) + tlvs
        return prop + bytes(-len(prop) % 8)


def _action(dp: Any, a: Any) -> Any:
    p = dp.ofproto_parser
    if isinstance(a, Output):
        return p.OFPActionOutput(a.port, a.max_len)
    if isinstance(a, GroupAction):
        return p.OFPActionGroup(a.group_id)
    if isinstance(a, SetQueue):
        return p.OFPActionSetQueue(a.queue_id)
    if isinstance(a, SetField):
        return p.OFPActionSetField(**{a.field: a.value})
    raise TypeError(f"unknown action {a!r}")


def _flow_mod(dp: Any, msg: FlowMod) -> Any:
    ofp, p = dp.ofproto, dp.ofproto_parser
    command = {"add": ofp.OFPFC_ADD, "delete": ofp.OFPFC_DELETE,
               "delete_strict": ofp.OFPFC_DELETE_STRICT}[msg.command]
    actions = [_action(dp, a) for a in msg.actions]
    inst = []
    if msg.meter_id is not None:
        if ofp.OFP_VERSION >= OFP15:  # a meter is an action from OpenFlow 1.5 on
            actions.insert(0, p.OFPActionMeter(msg.meter_id))
        else:
            inst.append(p.OFPInstructionMeter(msg.meter_id, ofp.OFPIT_METER))
    if actions:
        inst.append(p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions))
    if msg.goto_table is not None:
        inst.append(p.OFPInstructionGotoTable(msg.goto_table))
    return p.OFPFlowMod(dp, cookie=msg.cookie, table_id=msg.table_id, command=command,
                        priority=msg.priority, buffer_id=ofp.OFP_NO_BUFFER,
                        out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                        match=p.OFPMatch(**dict(msg.match)), instructions=inst)


def hash_basis(dpid: int, group_id: int) -> int:
    """A select group's hash basis, distinct per switch and per group.

    Per group: chained groups (ECMP, then marking) choose independently. Per switch:
    with one basis everywhere an aggregation switch would pick its uplink by the same
    hash as the edge switch before it, so every flow an edge sent up one bucket would
    leave the aggregation switch by one bucket too (polarisation; measured on the
    emulated k=4 fat-tree before this: each aggregation switch used one core uplink).
    """
    return (dpid * 0x9E3779B97F4A7C15 + group_id) & 0xFFFFFFFFFFFFFFFF


def _group_mod(dp: Any, msg: GroupMod) -> Any:
    ofp, p = dp.ofproto, dp.ofproto_parser
    command = {"add": ofp.OFPGC_ADD, "modify": ofp.OFPGC_MODIFY,
               "delete": ofp.OFPGC_DELETE}[msg.command]
    gtype = {"select": ofp.OFPGT_SELECT, "all": ofp.OFPGT_ALL,
             "indirect": ofp.OFPGT_INDIRECT, "ff": ofp.OFPGT_FF}[msg.group_type]
    select = msg.group_type == "select"
    if ofp.OFP_VERSION < OFP15:
        buckets = [p.OFPBucket(b.weight if select else 0, ofp.OFPP_ANY, ofp.OFPG_ANY,
                               [_action(dp, a) for a in b.actions]) for b in msg.buckets]
        return p.OFPGroupMod(dp, command, gtype, msg.group_id, buckets)
    buckets = [p.OFPBucket(i, [_action(dp, a) for a in b.actions],
                           [p.OFPGroupBucketPropWeight(ofp.OFPGBPT_WEIGHT, weight=b.weight)]
                           if select else [])
               for i, b in enumerate(msg.buckets)]
    props = [SelectionMethod(hash_basis(msg.dpid, msg.group_id))] \
        if select and msg.command != "delete" else []
    return p.OFPGroupMod(dp, command, gtype, msg.group_id, ofp.OFPG_BUCKET_ALL, buckets, props)


def to_ofp(dp: Any, msg: Message) -> Any:
    """The os_ken message object for one of the core's messages, for datapath ``dp``
    (OpenFlow 1.3, 1.4 or 1.5, whichever ``dp`` negotiated)."""
    ofp, p = dp.ofproto, dp.ofproto_parser
    if isinstance(msg, FlowMod):
        return _flow_mod(dp, msg)
    if isinstance(msg, GroupMod):
        return _group_mod(dp, msg)
    if isinstance(msg, MeterMod):
        command = {"add": ofp.OFPMC_ADD, "modify": ofp.OFPMC_MODIFY,
                   "delete": ofp.OFPMC_DELETE}[msg.command]
        if msg.command == "delete":
            return p.OFPMeterMod(dp, command, 0, msg.meter_id, [])
        return p.OFPMeterMod(dp, command, ofp.OFPMF_KBPS | ofp.OFPMF_BURST, msg.meter_id,
                             [p.OFPMeterBandDrop(msg.rate_kbps, msg.burst_kbits)])
    if isinstance(msg, PacketOut):
        actions = [p.OFPActionOutput(msg.port)]
        if ofp.OFP_VERSION >= OFP15:
            return p.OFPPacketOut(dp, ofp.OFP_NO_BUFFER, p.OFPMatch(in_port=ofp.OFPP_CONTROLLER),
                                  actions, msg.data)
        return p.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                              actions=actions, data=msg.data)
    if isinstance(msg, Barrier):
        return p.OFPBarrierRequest(dp)
    raise TypeError(f"unknown message {msg!r}")
