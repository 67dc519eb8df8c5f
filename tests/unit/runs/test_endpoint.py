"""Per-transfer endpoint charges of a schedule."""

from __future__ import annotations

import pytest

from fabrictwin.model.emulated import EndpointCharges
from fabrictwin.runs.endpoint import transfer_charges
from fabrictwin.traffic.collectives import build_schedule

CHARGES = EndpointCharges("phased", "LL", launch_s=4e-6, step_s=(1e-6, 5e-6),
                          rate_bps=(2e12, 2e11))


def test_first_sends_pay_the_launch_and_each_tier_its_step_and_rate():
    node_of = [0, 0, 1, 1]
    sched = build_schedule("hierarchical_all_reduce", node_of=node_of, size_bytes=1 << 20)
    keys = [(0, n) for n in node_of]
    hosts = ["a", "b", "c", "d"]
    d = 1000.0
    out = transfer_charges(sched, hosts, keys, CHARGES, d)
    assert set(out) == {t.id for t in sched.transfers}
    for t in sched.transfers:
        tier = 0 if node_of[t.src] == node_of[t.dst] else 1
        want = CHARGES.step_s[tier] * 1e9 * d + (0 if t.deps else CHARGES.launch_s * 1e9 * d)
        assert out[t.id]["delay_ns"] == pytest.approx(want)
        assert out[t.id]["rate_bps"] == pytest.approx(CHARGES.rate_bps[tier] / d)
    assert any(not t.deps for t in sched.transfers)


def test_the_emulated_wire_delay_is_not_paid_twice():
    sched = build_schedule("ring_all_reduce", n=2, size_bytes=4096)
    keys = [(0, 0), (0, 0)]
    out = transfer_charges(sched, ["a", "b"], keys, CHARGES, 1.0,
                           delay_between=lambda src, dst: 400.0)
    later = [t for t in sched.transfers if t.deps]
    assert out[later[0].id]["delay_ns"] == pytest.approx(1000.0 - 400.0)
    big = transfer_charges(sched, ["a", "b"], keys, CHARGES, 1.0,
                           delay_between=lambda src, dst: 5000.0)
    assert big[later[0].id]["delay_ns"] == 0.0  # the wire already took longer


def test_a_gpus_sends_of_one_step_share_its_rate_on_each_tier():
    # two nodes of three GPUs on NCCL's three rings: in every step each GPU sends once
    # per ring, across nodes on one and over NVLink on the other two, which share what
    # the GPU pushes through NVLink
    node_of = [0, 0, 0, 1, 1, 1]
    sched = build_schedule("ring_all_reduce", n=6, size_bytes=1 << 20, node_of=node_of)
    keys = [(0, n) for n in node_of]
    out = transfer_charges(sched, list("abcdef"), keys, CHARGES, 1.0)
    shared = 0
    for step in sched.steps:
        for t in step:
            tier = 0 if node_of[t.src] == node_of[t.dst] else 1
            peers = sum(1 for u in step if u.src == t.src
                        and (node_of[u.src] == node_of[u.dst]) == (tier == 0))
            assert out[t.id]["rate_bps"] == pytest.approx(CHARGES.rate_bps[tier] / peers)
            shared += peers > 1
    assert shared  # GPUs send on two rings over NVLink in one step
