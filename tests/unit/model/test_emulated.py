"""The model's view of an emulated fabric: system, algorithm names, endpoint charges."""

from __future__ import annotations

import numpy as np
import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.model import predict
from fabrictwin.model.algorithm import options
from fabrictwin.model.ceilings import algbw_ceiling_Bps
from fabrictwin.model.collectives import PROTOCOLS, base_latency_s, efficiency, step_latency_s
from fabrictwin.model.emulated import endpoint_charges, model_algorithm, system_of
from fabrictwin.topologies.graph import hosts
from fabrictwin.topologies.registry import build_topology


def test_a_two_dc_factory_has_three_tiers_with_its_distance():
    near = build_topology("ai_factory,hypernodes=2,dcs=2,profile=dgx-h100,distance_km=1")
    far = build_topology("ai_factory,hypernodes=2,dcs=2,profile=dgx-h100,distance_km=100")
    s_near, s_far = (system_of(g, hosts(g)) for g in (near, far))
    assert [t.name for t in s_near.tiers] == ["scale-up", "scale-out", "scale-across"]
    assert [t.size for t in s_near.tiers] == [8, 2, 2]
    # 99 km more fibre: about 0.5 ms more one way across
    assert s_far.tiers[2].hop_s - s_near.tiers[2].hop_s == pytest.approx(99e3 * 5e-9, rel=0.05)


def test_a_plain_clos_has_no_model():
    g = build_topology("leaf_spine,leaves=1,spines=0,hosts_per_leaf=4")
    assert system_of(g, hosts(g)) is None


def test_emulated_names_map_to_the_model():
    g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    s = system_of(g, hosts(g))
    assert model_algorithm("hierarchical", s) == "phased"
    assert model_algorithm("chain", s) == "ring"
    with pytest.raises(FabricTwinError, match="no model"):
        model_algorithm("butterfly", s)


def test_charges_follow_the_protocol_the_model_picks():
    g = build_topology("hypernode,profile=dgx-h100,collapse=true")
    s = system_of(g, hosts(g))
    for size in (64 << 10, 1 << 20, 1 << 30):
        c = endpoint_charges(s, "all_reduce", "ring", size)
        p = predict(s, "all_reduce", [size], "ring")
        proto = PROTOCOLS[str(p.protocol[0])]
        assert c.protocol == proto.name
        assert c.step_s[0] == step_latency_s(s, 0, proto, "ring")
        # NCCL's base latency once, NCCL's NVLink ring step per step (tuning.cc)
        assert c.launch_s == base_latency_s(s, "ring", proto.name)
        base_us = {"LL": 6.6, "LL128": 14.0, "Simple": 8.4}[proto.name]
        step_us = {"LL": 0.6, "LL128": 1.9, "Simple": 3.4}[proto.name]
        assert (c.launch_s, c.step_s[0]) == pytest.approx((base_us * 1e-6, step_us * 1e-6))
        # the GPU's payload rate for the protocol, on the channels NCCL runs at this size
        (cost,) = [k for k in options(s, "all_reduce", "ring") if k.protocol == proto.name]
        slower = float(cost.pipe.factor(np.array([size]))[0])
        assert slower >= 1 and (size < 1 << 30 or slower == pytest.approx(1, abs=0.05))
        eff = efficiency(s, 0, proto, "ring")
        assert eff == proto.efficiency or (proto.name == "LL" and eff < proto.efficiency)
        assert c.rate_bps[0] == pytest.approx(s.tiers[0].rank_payload_bps * eff / slower)
        # the model's time is launch + the steps + size at the charged rate (ring: 2(n-1)
        # steps of S/n each): the emulator paying these reproduces it
        n = s.ranks
        steps = 2 * (n - 1)
        own = c.launch_s + steps * (c.step_s[0] + 8 * size / n / c.rate_bps[0])
        assert own == pytest.approx(float(p.time_s[0]), rel=1e-6)


def test_charges_carry_the_ring_plateau_across_nodes():
    """A Simple ring all-reduce across nodes: launch and every step x 1.4, as the model."""
    g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    s = system_of(g, hosts(g))
    size = 1 << 30  # the model runs ring/Simple here
    c = endpoint_charges(s, "all_reduce", "ring", size)
    assert c.protocol == "Simple"
    proto = PROTOCOLS["Simple"]
    assert c.launch_s == pytest.approx(1.4 * base_latency_s(s, "ring", "Simple"))
    assert c.step_s == pytest.approx(tuple(1.4 * step_latency_s(s, i, proto, "ring")
                                           for i in range(len(s.tiers))))
    (cost,) = [k for k in options(s, "all_reduce", "ring") if k.protocol == "Simple"]
    p = predict(s, "all_reduce", [size], "ring")
    assert float(cost.time_s(size)) == pytest.approx(float(p.time_s[0]))
    # the model's latency at this size is what the emulator charges beside the wire
    n, nodes = s.ranks, 2
    out = 2 * (nodes - 1)
    charged = c.launch_s + out * c.step_s[1] + (2 * (n - 1) - out) * c.step_s[0]
    assert charged == pytest.approx(float(cost.latency_at(size)))


def test_charges_carry_nccls_channel_caps_across_nodes():
    """Where NCCL's per-channel cap sets the model's pace, a capped channel's transfers
    are charged the cap on every tier (the model's rate is the cap's)."""
    g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    s = system_of(g, hosts(g))
    size = 4 << 20  # ring/LL128 across 2 H100 nodes: perChMaxRingLL128Bw x 8 NICs binds
    c = endpoint_charges(s, "all_reduce", "ring", size)
    (cost,) = [k for k in options(s, "all_reduce", "ring") if k.protocol == c.protocol]
    assert c.protocol == "LL128"
    assert 0 < cost.capped < 1
    assert 1 / cost.s_per_byte == pytest.approx(
        algbw_ceiling_Bps(s, "all_reduce", "ring", "LL128"))
    proto = PROTOCOLS["LL128"]
    slower = float(cost.pipe.factor(np.array([size]))[0])
    up, out = s.tiers
    assert c.rate_bps[1] == pytest.approx(
        out.rank_payload_bps * efficiency(s, 1, proto, "ring") / slower * cost.capped)
    assert c.rate_bps[0] == pytest.approx(
        up.rank_payload_bps * efficiency(s, 0, proto, "ring") / slower * cost.capped)
    # within one node nothing is capped
    node = build_topology("hypernode,profile=dgx-h100,collapse=true")
    one = system_of(node, hosts(node))
    (k,) = [k for k in options(one, "all_reduce", "ring") if k.protocol == "LL128"]
    assert k.capped == 1.0


def test_an_all_to_all_pays_the_models_whole_latency():
    """All peers are written at once (one step on the outermost tier); the receiver's
    n-1 flag checks, which no step carries, come with the launch."""
    g = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
    s = system_of(g, hosts(g))
    for size in (1 << 20, 1 << 28):
        c = endpoint_charges(s, "alltoall", "direct", size)
        (cost,) = options(s, "alltoall", "direct")
        assert c.launch_s > base_latency_s(s, "direct", c.protocol)
        assert c.launch_s + c.step_s[1] == pytest.approx(float(cost.latency_at(size)))
    # a send/recv has no flags to find: its launch is NCCL's base latency
    c = endpoint_charges(s, "sendrecv", "direct", 1 << 20)
    assert c.launch_s == pytest.approx(base_latency_s(s, "direct", c.protocol))
