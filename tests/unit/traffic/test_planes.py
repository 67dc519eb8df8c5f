"""Striping transfers over a GPU's planes: sizes by rate, ids, dependencies, interfaces."""

from __future__ import annotations

from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.collectives import ring_all_reduce
from fabrictwin.traffic.config import agent_configs, parse_config
from fabrictwin.traffic.planes import MIN_PART_BYTES, Plane, split_by_rate, stripe
from fabrictwin.traffic.schedule import agent_view


def test_split_by_rate_sums_exactly_and_follows_the_rates():
    for size in (0, 1, 17, 1000, 123457):
        for rates in ([1], [5, 4, 4, 5], [3, 1], [1] * 18):
            parts = split_by_rate(size, rates)
            assert sum(parts) == size and len(parts) == len(rates)
            for p, r in zip(parts, rates, strict=True):
                assert abs(p - size * r / sum(rates)) < 1


def two_planes(_src: int, _dst: int) -> list[Plane]:
    return [Plane("a-eth1", "b-eth1", 2e6), Plane("a-eth2", "b-eth2", 1e6)]


def test_every_transfer_is_split_and_every_part_is_awaited():
    s = ring_all_reduce(3, 3 * 32768)  # 32 KiB transfers: two parts of >= MIN_PART_BYTES
    views = stripe({r: agent_view(s, r) for r in range(3)}, two_planes)
    for r, v in views.items():
        orig = agent_view(s, r)
        assert len(v["sends"]) == 2 * len(orig["sends"])
        assert sum(p["size_bytes"] for p in v["sends"]) == sum(t["size_bytes"]
                                                              for t in orig["sends"])
        assert {p["interface"] for p in v["sends"]} == {"a-eth1", "a-eth2"}
        assert {p["interface"] for p in v["recvs"]} == {"b-eth1", "b-eth2"}
        recv_ids = {p["id"] for p in v["recvs"]}
        for send, o in zip(v["sends"][::2], orig["sends"], strict=True):
            # a part waits for both parts of each receive its transfer waited for
            assert len(send["deps"]) == 2 * len(o["deps"]) and set(send["deps"]) <= recv_ids
    ids = [p["id"] for v in views.values() for p in v["sends"]]
    assert len(ids) == len(set(ids))
    # the sender's parts are the receiver's parts, id for id and byte for byte
    sent = {(p["id"], p["size_bytes"]) for v in views.values() for p in v["sends"]}
    got = {(p["id"], p["size_bytes"]) for v in views.values() for p in v["recvs"]}
    assert sent == got


def test_one_plane_changes_nothing():
    s = ring_all_reduce(4, 4096)
    views = {r: agent_view(s, r) for r in range(4)}
    assert stripe(views, lambda a, b: [Plane("x", "y", 1.0)]) == views


def test_configs_on_the_dgx_h100_crossbar_use_every_plane_at_both_ends():
    g = build_topology("hypernode,profile=dgx-h100")
    plan = plan_emulation(g, 1e5)
    hosts = [h.name for h in plan.hosts]
    cfgs = agent_configs(plan.hosts, ring_all_reduce(8, 1 << 20), hosts, result="/r{rank}")
    cfg = parse_config(cfgs[0])
    assert cfg.interfaces == ("g0-eth1", "g0-eth2", "g0-eth3", "g0-eth4")
    sizes = [s.size_bytes for s in cfg.sends[:4]]  # the first transfer's four parts
    assert {s.interface for s in cfg.sends[:4]} == set(cfg.interfaces)
    assert sizes[0] > sizes[1] and sizes[0] == sizes[3]  # 5 NVLinks vs 4 on a plane
    back = parse_config(cfgs[1])
    assert {r.interface for r in back.recvs if r.src == 0} == {
        "g1-eth1", "g1-eth2", "g1-eth3", "g1-eth4"}


def test_small_transfers_take_fewer_planes_and_rotate_over_them():
    four = [Plane(f"a-eth{i}", f"b-eth{i}", 1e6) for i in range(4)]
    s = ring_all_reduce(2, 2 * MIN_PART_BYTES)  # one part's worth per transfer
    views = stripe({r: agent_view(s, r) for r in range(2)}, lambda a, b: four)
    sends = [p for v in views.values() for p in v["sends"]]
    assert len(sends) == len(list(s.transfers))  # one queue pair each, not four
    assert len({p["interface"] for p in sends}) > 1  # successive ones on other planes
