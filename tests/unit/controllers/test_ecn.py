"""ECN decisions (RED profile), marking groups, traffic classes and queues."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fabrictwin.controllers.classes import QUEUE_CNP, QUEUE_LOSSLESS, port_queues
from fabrictwin.controllers.ecn import (
    PRESETS,
    RedProfile,
    egress_buckets,
    preset,
    red_probability,
    to_permille,
)
from fabrictwin.controllers.messages import GroupMod, Output, SetField
from fabrictwin.controllers.policy import Policy, policy_from_data
from fabrictwin.controllers.tables import EGRESS_BASE
from fabrictwin.controllers.telemetry import QueueSample
from tests.helpers.controller_fake import walk
from tests.helpers.routing import CNP, LOSSLESS, PLAIN, bring_up

DCQCN = preset("dcqcn")


def test_presets_carry_their_published_figures():
    assert PRESETS["dcqcn"] == (5e3, 200e3, 0.01, 40e9)
    assert PRESETS["hpcc"] == (100e3, 400e3, 0.20, 25e9)


@pytest.mark.parametrize("profile", [DCQCN, preset("hpcc"), DCQCN.scaled(800e9)])
def test_red_zero_below_kmin_pmax_at_kmax_one_above(profile):
    assert red_probability(0, profile) == 0
    assert red_probability(profile.kmin_bytes * 0.5, profile) == 0
    assert red_probability(profile.kmin_bytes, profile) == 0
    assert red_probability(profile.kmax_bytes, profile) == pytest.approx(profile.pmax)
    assert red_probability(profile.kmax_bytes + 1, profile) == 1.0
    mid = (profile.kmin_bytes + profile.kmax_bytes) / 2
    assert red_probability(mid, profile) == pytest.approx(profile.pmax / 2)


@given(st.floats(0, 2e6), st.floats(0, 2e6),
       st.sampled_from([DCQCN, preset("hpcc"), RedProfile(1e3, 2e3, 1.0, 1e9)]))
def test_red_is_monotone_in_queue_depth(a, b, profile):
    lo, hi = sorted((a, b))
    assert 0 <= red_probability(lo, profile) <= red_probability(hi, profile) <= 1


def test_thresholds_scale_with_link_rate():
    at_400g = DCQCN.scaled(400e9)
    assert at_400g.kmin_bytes == pytest.approx(50e3)
    assert at_400g.kmax_bytes == pytest.approx(2e6)
    assert at_400g.pmax == DCQCN.pmax


def test_permille_and_buckets():
    assert [to_permille(p) for p in (0, 1e-9, 0.01, 0.2, 1)] == [0, 1, 10, 200, 1000]
    (only,) = egress_buckets(7, 0)
    assert only.actions == (Output(7),)
    (all_,) = egress_buckets(7, 1000)
    assert all_.actions == (SetField("ip_ecn", 3), Output(7))
    mark, plain, tiny = egress_buckets(7, 10)
    assert (mark.weight, plain.weight, tiny.weight) == (20, 1000, 1)
    assert SetField("ip_ecn", 3) in mark.actions and plain.actions == (Output(7),)


@pytest.mark.parametrize("permille", [1, 10, 100, 200, 500, 750, 990])
def test_bucket_weights_give_the_marked_share_under_ovs_selection(permille):
    """Simulate OVS's choice (highest uniform hash x weight per bucket) over many flows."""
    rng = random.Random(permille)
    buckets = egress_buckets(3, permille)
    flows = 200_000
    marked = 0
    for _ in range(flows):
        scores = [rng.randrange(1 << 16) * b.weight for b in buckets]
        best = max(range(len(buckets)), key=lambda i: (scores[i], i))  # ties: last wins
        marked += SetField("ip_ecn", 3) in buckets[best].actions
    assert marked / flows == pytest.approx(permille / 1000, abs=0.003 + 0.05 * permille / 1000)


def _host_port(core, g):
    edge = next(n for n, r in g.nodes(data="role") if r == "edge")
    host, port = core.fabric.host_links[edge][0]
    return edge, host, port


def test_congested_egress_marks_lossless_ect_only():
    g, core, net = bring_up("fat_tree,k=4")
    edge, host, port = _host_port(core, g)
    src = next(h for h in core.fabric.hosts if g.nodes[h]["pod"] != g.nodes[host]["pod"])
    red = core.red_profile((edge, port))
    mid = (red.kmin_bytes + red.kmax_bytes) / 2
    step = core.queue_sample(QueueSample(5.0, {(edge, port): int(mid)}))
    (mod,) = step.messages
    assert isinstance(mod, GroupMod) and mod.group_id == EGRESS_BASE + port
    assert mod.command == "modify"
    kinds = [d.kind for d in step.decisions]
    assert kinds == ["queues", "ecn"]
    ecn = step.decisions[1].data
    assert ecn["permille"] == to_permille(red.pmax / 2) and ecn["switch"] == edge
    net.send(step)
    lossless = walk(net, src, host, LOSSLESS)
    assert {t.marked for t in lossless} == {True, False}  # a share of flows marked
    for pkt in (PLAIN, CNP, {**LOSSLESS, "ip_ecn": 0}):
        assert not any(t.marked for t in walk(net, src, host, pkt))
    # above Kmax every ECN-capable lossless flow is marked
    net.send(core.queue_sample(QueueSample(6.0, {(edge, port): int(red.kmax_bytes) + 1})))
    assert all(t.marked for t in walk(net, src, host, LOSSLESS))
    # the queue drains: marking stops, and the empty sample is logged once
    step = core.queue_sample(QueueSample(7.0, {}))
    assert [d.kind for d in step.decisions] == ["queues", "ecn"]
    net.send(step)
    assert not any(t.marked for t in walk(net, src, host, LOSSLESS))
    assert core.queue_sample(QueueSample(8.0, {})) == type(step)()


def test_unchanged_marking_sends_nothing_and_ecn_can_be_disabled():
    g, core, _net = bring_up("fat_tree,k=4")
    edge, _host, port = _host_port(core, g)
    sample = QueueSample(1.0, {(edge, port): 10**7})
    assert core.queue_sample(sample).messages
    assert not core.queue_sample(sample).messages
    off = bring_up("fat_tree,k=4", policy=policy_from_data({"ecn": {"enabled": False}}))[1]
    assert not off.queue_sample(sample).messages


def test_queues_for_the_traffic_classes():
    queues = {q.queue_id: q for q in port_queues(Policy())}
    assert queues[QUEUE_LOSSLESS].dscp == (26,) and queues[QUEUE_LOSSLESS].pfc_priority == 3
    assert queues[QUEUE_LOSSLESS].lossless and queues[QUEUE_LOSSLESS].ecn
    assert queues[QUEUE_CNP].dscp == (48,) and queues[QUEUE_CNP].strict
    assert [q.sched_prio for q in sorted(queues.values(), key=lambda q: q.sched_prio)] == [0, 1, 2]
    assert sum(q.min_share for q in queues.values()) == pytest.approx(1.0)


def test_dscp_classes_take_their_queues_at_every_hop():
    g, core, net = bring_up("fat_tree,k=4")
    by_id = {q.queue_id: q for q in core.queues()}
    src, dst = core.fabric.hosts[0], core.fabric.hosts[-1]
    for pkt, check in ((LOSSLESS, lambda q: q.pfc_priority == 3),
                       ({**LOSSLESS, "ip_ecn": 0}, lambda q: q.pfc_priority == 3),
                       (CNP, lambda q: q.strict),
                       (PLAIN, lambda q: q.traffic_class == "default")):
        for t in walk(net, src, dst, pkt):
            assert len(t.queues) == len(t.path) - 2  # one per switch crossed
            assert all(check(by_id[q]) for q in t.queues), (pkt, t)


def test_rate_limits_become_meters_at_the_dilated_rate():
    policy = policy_from_data({"rate_limits_bps": {"default": "100G", "cnp": "1G"}})
    g, core, net = bring_up("fat_tree,k=4", policy=policy, dilation=1000)
    sw = next(iter(net.switches.values()))
    assert {m.meter_id: m.rate_kbps for m in sw.meters.values()} == {1: 100_000, 3: 1_000}
    metered = {f.meter_id for f in sw.flows.values() if f.meter_id is not None}
    assert metered == {1, 3}
    src, dst = core.fabric.hosts[0], core.fabric.hosts[-1]
    assert all(t.path[-1] == dst for t in walk(net, src, dst, PLAIN))


def test_arp_answered_from_the_topology_and_never_flooded():
    from fabrictwin.controllers.arp import arp_request
    from fabrictwin.controllers.messages import OFPP_CONTROLLER, PacketOut

    g, core, net = bring_up("fat_tree,k=4")
    f = core.fabric
    a, b = f.hosts[0], f.hosts[5]
    edge, port = next((s, p) for s in f.switches for h, p in f.host_links[s] if h == a)
    # ARP goes to the controller only
    sw = net.by_name[edge]
    flow = sw.lookup(0, {"eth_type": 0x0806, "eth_dst": "ff:ff:ff:ff:ff:ff"})
    assert flow.actions == (Output(OFPP_CONTROLLER),)
    step = core.packet_in(f.dpid[edge], port, arp_request(f.mac[a], f.ip[a], f.ip[b]), 1.0)
    (out,) = step.messages
    assert isinstance(out, PacketOut) and out.port == port
    assert out.data[:6] == bytes.fromhex(f.mac[a].replace(":", ""))
    assert out.data[6:12] == bytes.fromhex(f.mac[b].replace(":", ""))
    assert out.data[20:22] == b"\x00\x02"  # ARP reply
    unknown = arp_request(f.mac[a], f.ip[a], "192.0.2.1")
    assert core.packet_in(f.dpid[edge], port, unknown, 1.0).messages == ()
    drop = bring_up("fat_tree,k=4", policy=policy_from_data({"arp": "drop"}))[2]
    assert drop.by_name[edge].lookup(0, {"eth_type": 0x0806}).actions == ()
