"""The os-ken shim: translation of the core's messages, and event handling on fake datapaths."""

from __future__ import annotations

import struct
import time
from types import SimpleNamespace

import pytest
from os_ken.ofproto import (
    ofproto_parser,
    ofproto_v1_3,
    ofproto_v1_3_parser,
    ofproto_v1_4,
    ofproto_v1_4_parser,
    ofproto_v1_5,
    ofproto_v1_5_parser,
)

from fabrictwin.controllers.app import FabricTwinController, Runtime
from fabrictwin.controllers.core import PolicyCore
from fabrictwin.controllers.decisions import DecisionLog, read_decisions
from fabrictwin.controllers.messages import (
    OFPG_ALL,
    OFPP_CONTROLLER,
    OFPTT_ALL,
    Barrier,
    Bucket,
    FlowMod,
    GroupAction,
    GroupMod,
    MeterMod,
    Output,
    PacketOut,
    SetField,
    SetQueue,
    match,
)
from fabrictwin.controllers.ofp import (
    HASH_FIELDS,
    SelectionMethod,
    hash_basis,
    to_ofp,
)
from fabrictwin.topologies.registry import build_topology

VERSIONS = {
    "1.3": (ofproto_v1_3, ofproto_v1_3_parser),
    "1.4": (ofproto_v1_4, ofproto_v1_4_parser),
    "1.5": (ofproto_v1_5, ofproto_v1_5_parser),
}


class FakeDatapath:
    """What os_ken's message classes and the shim need of a datapath; records sends."""

    def __init__(self, version: str = "1.3", dpid: int = 1) -> None:
        self.ofproto, self.ofproto_parser = VERSIONS[version]
        self.id = dpid
        self.xid = 100
        self.sent: list[bytes] = []
        self.sent_msgs: list[object] = []

    def set_xid(self, msg: object) -> int:
        self.xid += 1
        msg.set_xid(self.xid)
        return self.xid

    def send(self, buf: bytes) -> bool:
        self.sent.append(bytes(buf))
        return True

    def send_msg(self, msg: object) -> bool:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        self.sent_msgs.append(msg)
        return self.send(msg.buf)


def split(dp: FakeDatapath, buf: bytes) -> list[tuple[str, int]]:
    """The (message type, xid) of each OpenFlow message in a buffer, as the switch reads it."""
    out = []
    while buf:
        _version, msg_type, length, xid = ofproto_parser.header(buf)
        out.append((dp.ofproto.ofp_msg_type_to_str(msg_type).split("(")[0], xid))
        buf = buf[length:]
    return out


FLOW = FlowMod(7, "add", 0, 200, match(eth_type=0x0800, ip_dscp=26, ip_ecn=1),
               (SetQueue(1),), goto_table=1, meter_id=2)


@pytest.mark.parametrize("version", ["1.3", "1.4", "1.5"])
def test_flow_mod_translation(version):
    dp = FakeDatapath(version)
    ofp = dp.ofproto
    m = to_ofp(dp, FLOW)
    assert isinstance(m, dp.ofproto_parser.OFPFlowMod)
    assert (m.table_id, m.priority, m.command, m.cookie) == (0, 200, ofp.OFPFC_ADD, FLOW.cookie)
    assert dict(m.match.items()) == {"eth_type": 0x0800, "ip_dscp": 26, "ip_ecn": 1}
    kinds = [type(i).__name__ for i in m.instructions]
    if version == "1.5":
        assert kinds == ["OFPInstructionActions", "OFPInstructionGotoTable"]
        assert type(m.instructions[0].actions[0]).__name__ == "OFPActionMeter"
    else:
        assert kinds == ["OFPInstructionMeter", "OFPInstructionActions",
                         "OFPInstructionGotoTable"]
    m.serialize()
    assert len(m.buf) > 0


def test_route_and_delete_flow_mods():
    dp = FakeDatapath()
    ofp = dp.ofproto
    route = to_ofp(dp, FlowMod(7, "add", 2, 100, match(eth_dst="02:00:00:00:00:05"),
                               (GroupAction(3),)))
    (inst,) = route.instructions
    (act,) = inst.actions
    assert isinstance(act, dp.ofproto_parser.OFPActionGroup) and act.group_id == 3
    wipe = to_ofp(dp, FlowMod(7, "delete", OFPTT_ALL))
    assert (wipe.command, wipe.table_id, wipe.out_port, wipe.out_group) == \
        (ofp.OFPFC_DELETE, ofp.OFPTT_ALL, ofp.OFPP_ANY, ofp.OFPG_ANY)
    drop = to_ofp(dp, FlowMod(7, "add", 1, 0))
    assert drop.instructions == []  # table-miss: no instructions = drop
    strict = to_ofp(dp, FlowMod(7, "delete_strict", 2, 100, match(eth_dst="02:00:00:00:00:05")))
    assert strict.command == ofp.OFPFC_DELETE_STRICT


GROUP = GroupMod(7, "add", 0x200003, "select", (
    Bucket(20, (SetField("ip_ecn", 3), Output(3))), Bucket(1000, (Output(3),)),
    Bucket(1, (Output(3),))))


def test_group_mod_translation_openflow13():
    dp = FakeDatapath("1.3")
    ofp = dp.ofproto
    g = to_ofp(dp, GROUP)
    assert isinstance(g, dp.ofproto_parser.OFPGroupMod)
    assert (g.command, g.type, g.group_id) == (ofp.OFPGC_ADD, ofp.OFPGT_SELECT, 0x200003)
    assert [b.weight for b in g.buckets] == [20, 1000, 1]
    set_ecn, out = g.buckets[0].actions
    assert set_ecn.key == "ip_ecn" and set_ecn.value == 3 and out.port == 3
    dp.set_xid(g)
    g.serialize()
    assert split(dp, bytes(g.buf)) == [("OFPT_GROUP_MOD", dp.xid)]
    delete_all = to_ofp(dp, GroupMod(7, "delete", OFPG_ALL))
    assert (delete_all.command, delete_all.group_id) == (ofp.OFPGC_DELETE, ofp.OFPG_ALL)


def test_group_mod_openflow15_hashes_the_udp_five_tuple():
    dp = FakeDatapath("1.5")
    g = to_ofp(dp, GROUP)
    assert [b.properties[0].weight for b in g.buckets] == [20, 1000, 1]
    (prop,) = g.properties
    basis = hash_basis(GROUP.dpid, GROUP.group_id)
    assert isinstance(prop, SelectionMethod) and prop.param == basis
    raw = prop.serialize()
    tlv_bytes = sum(4 + size for _, size in HASH_FIELDS)
    assert len(raw) % 8 == 0
    kind, length, vendor, exp_type, _pad, method, param = struct.unpack_from("!HHIII16sQ", raw)
    assert (kind, length, vendor, exp_type) == (0xFFFF, 40 + tlv_bytes, 0x154D, 1)
    assert method.rstrip(b"\0") == b"hash" and param == basis
    headers = []
    off = 40
    while off < length:
        (header,) = struct.unpack_from("!I", raw, off)
        headers.append((header >> 9) & 0x7F)
        off += 4 + (header & 0xFF)
    assert headers == [11, 12, 10, 15, 16, 13, 14]  # ipv4 src/dst, proto, udp, tcp ports
    dp.set_xid(g)
    g.serialize()
    assert bytes(g.buf).endswith(raw)
    assert to_ofp(dp, GroupMod(7, "delete", 5)).properties == []


@pytest.mark.parametrize("version", ["1.3", "1.5"])
def test_meter_packet_out_barrier(version):
    dp = FakeDatapath(version)
    ofp = dp.ofproto
    m = to_ofp(dp, MeterMod(7, "add", 2, rate_kbps=1000, burst_kbits=10))
    assert m.flags == ofp.OFPMF_KBPS | ofp.OFPMF_BURST
    assert (m.bands[0].rate, m.bands[0].burst_size) == (1000, 10)
    po = to_ofp(dp, PacketOut(7, 3, b"\x01" * 60))
    assert po.actions[0].port == 3 and po.data == b"\x01" * 60
    assert isinstance(to_ofp(dp, Barrier(7)), dp.ofproto_parser.OFPBarrierRequest)
    for msg in (m, po):
        dp.set_xid(msg)
        msg.serialize()


def test_controller_output_keeps_whole_frames():
    dp = FakeDatapath()
    (inst,) = to_ofp(dp, FlowMod(7, "add", 0, 1000, match(eth_type=0x0806),
                                 (Output(OFPP_CONTROLLER),))).instructions
    assert inst.actions[0].port == dp.ofproto.OFPP_CONTROLLER
    assert inst.actions[0].max_len == dp.ofproto.OFPCML_NO_BUFFER


# -- the app on fake datapaths ---------------------------------------------------------------
@pytest.fixture
def app(tmp_path):
    core = PolicyCore(build_topology("fat_tree,k=4"))
    runtime = Runtime(core, DecisionLog(tmp_path / "d.jsonl"))
    ctl = FabricTwinController(fabrictwin=runtime)
    yield ctl
    runtime.log.close()


def _features(ctl, dp):
    ctl._features(SimpleNamespace(msg=SimpleNamespace(datapath=dp, datapath_id=dp.id)))


def _barrier_replies(ctl, dp):
    for kind, xid in split(dp, b"".join(dp.sent)):
        if kind == "OFPT_BARRIER_REQUEST":
            ctl._barrier(SimpleNamespace(msg=SimpleNamespace(datapath=dp, xid=xid)))


def test_switch_install_is_one_write_and_logged_ready_on_barrier(app):
    dp = FakeDatapath("1.5", dpid=1)
    t0 = time.time()
    _features(app, dp)
    assert len(dp.sent) == 1  # the whole install in one socket write
    names = [kind for kind, _ in split(dp, dp.sent[0])]
    assert names[:2] == ["OFPT_FLOW_MOD", "OFPT_GROUP_MOD"]
    assert names[-1] == "OFPT_BARRIER_REQUEST"
    assert names.count("OFPT_FLOW_MOD") == 1 + 2 * 16 + 3 + 7  # wipe, routes, misses, classes
    time.sleep(0.05)  # the switch takes its time to answer
    _barrier_replies(app, dp)
    elapsed = time.time() - t0
    kinds = [d["kind"] for d in read_decisions(app.rt.log.path)]
    assert kinds == ["switch_up", "switch_ready"]
    ready = read_decisions(app.rt.log.path)[-1]
    assert ready["switch"] == "p0e0" and ready["openflow"] == "1.5"
    # features to barrier reply: the wait above, within what the test itself took
    assert 0.05 <= ready["install_s"] <= elapsed


def test_port_down_reroute_is_timed_until_every_switch_acknowledges(app):
    dps = {dpid: FakeDatapath("1.3", dpid) for dpid in app.core.fabric.dpid.values()}
    for dp in dps.values():
        _features(app, dp)
        dp.sent.clear()
    edge, agg = "p0e0", "p0a0"
    port = app.core.fabric.switch_links[edge][0][1]
    assert app.core.fabric.port_peer[(edge, port)][0] == agg
    ofp = ofproto_v1_3
    desc = SimpleNamespace(port_no=port, config=0, state=ofp.OFPPS_LINK_DOWN)
    dp = dps[app.core.fabric.dpid[edge]]
    t0 = time.time()
    app._port_status(SimpleNamespace(msg=SimpleNamespace(datapath=dp, reason=ofp.OFPPR_MODIFY,
                                                         desc=desc)))
    touched = [d for d in dps.values() if d.sent]
    assert dp in touched and len(touched) > 1
    *first, last = touched
    for d in first:
        _barrier_replies(app, d)
    decisions = read_decisions(app.rt.log.path)
    assert decisions[-1]["kind"] == "reroute"  # not installed while a switch has not answered
    time.sleep(0.05)
    _barrier_replies(app, last)
    elapsed = time.time() - t0
    decisions = read_decisions(app.rt.log.path)
    assert [d["kind"] for d in decisions[-2:]] == ["reroute", "reroute_installed"]
    assert 0.05 <= decisions[-1]["since_event_s"] <= elapsed


def test_unknown_datapath_is_ignored(app):
    dp = FakeDatapath("1.3", dpid=999)
    _features(app, dp)
    assert dp.sent == [] and 999 not in app.datapaths


def test_port_stats_and_telemetry_requests(app):
    dp = FakeDatapath("1.3", dpid=1)
    _features(app, dp)
    stats = [SimpleNamespace(port_no=p, tx_bytes=1000 * p) for p in (1, 2, 3, 4)]
    app._port_stats(SimpleNamespace(msg=SimpleNamespace(datapath=dp, flags=0, body=stats)))
    assert app.core.counters[("p0e0", 3)].tx_bytes == 3000
    app._telemetry_tick()
    assert len(dp.sent_msgs) == 1
    app._telemetry_tick(port_stats=False)
    assert len(dp.sent_msgs) == 1
    assert isinstance(dp.sent_msgs[-1], dp.ofproto_parser.OFPPortStatsRequest)
