"""Analytical collective model: alpha-beta identities, closed forms, limits, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.model import (
    COLLECTIVES,
    PROTOCOLS,
    System,
    Tier,
    build_system,
    busbw_factor,
    cost,
    predict,
)

SYSTEMS = ["dgx-h100", "dgx-h200", "dgx-a100", "dgx-b200", "gb200-nvl72", "oex"]


def tier(name: str = "scale-up", size: int = 8, payload_bps: float = 3.6e12, hop_s: float = 2e-7,
         sync_s: float = 5e-7, fence_s: float = 2e-6, **kw) -> Tier:
    return Tier(name, size, payload_bps=payload_bps, line_bps=payload_bps * 1.25,
                rank_payload_bps=kw.pop("rank_payload_bps", payload_bps), hop_s=hop_s,
                sync_s=sync_s, fence_s=fence_s, **kw)


# NCCL 2.30.7 src/graph/tuning.cc, written out here so that the tests check the table
US = 1e-6
BASE = {"ring": {"LL": 6.6 * US, "LL128": 14 * US, "Simple": 8.4 * US},
        "tree": {"LL": 6.8 * US, "LL128": 14 * US, "Simple": 8.4 * US}}
NVLINK = {"ring": {"LL": 0.6 * US, "LL128": 1.9 * US, "Simple": 3.4 * US},
          "tree": {"LL": 0.6 * US, "LL128": 1.25 * US, "Simple": 4.0 * US}}
NET = {"ring": {"LL": 2.7 * US, "LL128": 4.0 * US, "Simple": 14 * US},
       "tree": {"LL": 5.0 * US, "LL128": 8.5 * US, "Simple": 14 * US}}


#: ncclTopoGetAlgoTime's "Plateau effect of ring" from Ampere on
PLATEAU = 1.4


def step_s(t: Tier, protocol: str, kind: str = "ring") -> float:
    return (NVLINK if t.name == "scale-up" else NET)[kind][protocol]


def systems(lib):
    """Catalogue systems: one hyper-node, two of them, and a multi-DC factory."""
    sw, dci = lib.load("tomahawk5-51t2"), lib.load("zr400")
    out = []
    for name in SYSTEMS:
        hn = lib.load(name)
        out.append(build_system(hn, hn.gpus, switch=sw))
        out.append(build_system(hn, 2 * hn.gpus, switch=sw))
        out.append(build_system(hn, 8 * hn.gpus, switch=sw, dcs=2, dci=dci))
    return out


@pytest.mark.parametrize("n", [2, 3, 8, 72, 1000])
def test_busbw_factors_follow_nccl_tests(n):
    assert busbw_factor("all_reduce", n) == pytest.approx(2 * (n - 1) / n)
    for c in ("all_gather", "reduce_scatter", "alltoall"):
        assert busbw_factor(c, n) == pytest.approx((n - 1) / n)
    for c in ("broadcast", "reduce", "sendrecv"):
        assert busbw_factor(c, n) == 1.0


@pytest.mark.parametrize("n", [2, 3, 8, 72])
@pytest.mark.parametrize("protocol", ["LL", "LL128", "Simple"])
def test_ring_all_reduce_alpha_beta(n, protocol):
    t = tier(size=n, ll128=True)
    system = System("x", (t,), launch_s=4e-6)
    size = np.array([8.0, 1e6, 8e9])
    c = cost(system, "all_reduce", "ring", protocol)
    factor = c.pipe.factor(size)  # fewer channels below nccl's thresholds (model.pipeline)
    assert factor[-1] == pytest.approx(1.0)
    expected = (BASE["ring"][protocol] + 2 * (n - 1) * step_s(t, protocol)
                + 2 * (n - 1) / n * size * 8 / (t.payload_bps * PROTOCOLS[protocol].efficiency)
                * factor)
    got = predict(system, "all_reduce", size, "ring", protocol)
    np.testing.assert_allclose(got.time_s, expected, rtol=1e-12)
    # busbw tends to the payload rate times the protocol efficiency
    big = predict(system, "all_reduce", [1e15], "ring", protocol)
    assert big.busbw_GBps[0] == pytest.approx(
        t.payload_bps * PROTOCOLS[protocol].efficiency / 8e9, rel=1e-6)


@pytest.mark.parametrize("collective", ["all_gather", "reduce_scatter"])
def test_ring_gather_scatter_closed_form(collective):
    t = tier(size=8)
    system = System("x", (t,), launch_s=1e-6)
    size = 1e8
    expected = BASE["ring"]["Simple"] + 7 * step_s(t, "Simple") + 7 / 8 * size * 8 / t.payload_bps
    assert cost(system, collective, "ring", "Simple").time_s(size) == pytest.approx(expected)


def test_flat_ring_over_two_tiers():
    up = tier(size=8, payload_bps=3.2e12)
    out = tier("scale-out", size=4, payload_bps=2.4e12, hop_s=4e-6, ordered=True)
    system = System("x", (up, out), launch_s=4e-6)
    n, nodes, size = 32, 4, 1e9
    hops_out = 2 * (nodes - 1)
    hops_up = 2 * (n - 1) - hops_out
    # on several nodes an NVLink step costs at least NCCL's network post overhead (3 us)
    assert step_s(up, "Simple") >= 3 * US
    latency = (BASE["ring"]["Simple"] + hops_up * step_s(up, "Simple")
               + hops_out * step_s(out, "Simple"))
    # NCCL's ring plateau: x 1.4 across nodes once a rank's share per channel is 64 B
    expected = PLATEAU * latency + 2 * (n - 1) / n * size * 8 / min(up.payload_bps,
                                                                   out.payload_bps)
    c = cost(system, "all_reduce", "ring", "Simple")
    assert c.time_s(size) == pytest.approx(expected)
    assert c.bottleneck == "scale-out"
    # below 64 B per rank and channel the latency is NCCL's table alone
    small = 64 * system.channels * n - 1
    assert c.time_s(small) == pytest.approx(latency + small * c.s_per_byte_at(small))


def test_ring_plateau_only_for_simple_ring_all_reduce_across_nodes(lib):
    sw = lib.load("tomahawk5-51t2")
    hn = lib.load("dgx-a100")
    one, two = build_system(hn, 8), build_system(hn, 16, nodes=2, switch=sw)
    size = 64 << 20

    def ratio(system, collective, algorithm, protocol):
        c = cost(system, collective, algorithm, protocol)
        return float(c.latency_at(size)) / c.latency_s

    assert ratio(two, "all_reduce", "ring", "Simple") == pytest.approx(PLATEAU)
    assert ratio(one, "all_reduce", "ring", "Simple") == 1.0
    assert ratio(two, "all_reduce", "ring", "LL128") == 1.0
    assert ratio(two, "all_reduce", "tree", "Simple") == 1.0
    assert ratio(two, "all_gather", "ring", "Simple") == 1.0
    # before Ampere NCCL's factor is 1.9 (minCompCap < 80)
    volta = System("v", two.tiers, two.launch_s, channels=two.channels, gpu_model="V100")
    assert ratio(volta, "all_reduce", "ring", "Simple") == pytest.approx(1.9)


def test_hierarchical_stages_pipeline_to_the_slowest_tier():
    up = tier(size=8, payload_bps=3.2e12)
    out = tier("scale-out", size=4, payload_bps=2.4e12, hop_s=4e-6, ordered=True)
    system = System("x", (up, out), launch_s=0.0)
    c = cost(system, "all_reduce", "ring/ring", "Simple")
    assert c.latency_s == pytest.approx(BASE["ring"]["Simple"] + 14 * step_s(up, "Simple")
                                        + 6 * step_s(out, "Simple"))
    assert c.s_per_byte == pytest.approx(max(2 * 7 / 8 * 8 / up.payload_bps,
                                             2 * 3 / 4 * 8 / out.payload_bps))
    # NCCL's tree: a chain in the node (2 S per GPU), a double binary tree across nodes
    tree = cost(system, "all_reduce", "tree", "Simple")
    assert tree.s_per_byte == pytest.approx(max(2 * 8 / up.payload_bps, 2 * 8 / out.payload_bps))
    # NCCL: base + 2 ((ranks per node - 1) intra + log2(nodes) inter), tree constants
    assert tree.latency_s == pytest.approx(
        BASE["tree"]["Simple"] + 14 * step_s(up, "Simple", "tree")
        + 2 * math.floor(math.log2(4)) * step_s(out, "Simple", "tree"))


@pytest.mark.parametrize("n", [2, 4, 16, 64])
def test_halving_doubling_power_of_two(n):
    t = tier(size=n)
    system = System("x", (t,), launch_s=0.0)
    hd = cost(system, "all_reduce", "hd", "Simple")
    ring = cost(system, "all_reduce", "ring", "Simple")
    assert hd.latency_s == pytest.approx(BASE["ring"]["Simple"]
                                         + 2 * math.log2(n) * step_s(t, "Simple"))
    assert hd.s_per_byte == pytest.approx(ring.s_per_byte)
    assert hd.latency_s <= ring.latency_s


def test_halving_doubling_loads_upper_tiers_more_than_a_ring():
    up = tier(size=8)
    out = tier("scale-out", size=8, payload_bps=3.2e12, ordered=True)
    system = System("x", (up, out), launch_s=0.0)
    hd = cost(system, "all_reduce", "hd", "Simple")
    # a node of 8 ranks sends 2 x 8 x (1 - 1/8) S through its NICs
    assert hd.s_per_byte == pytest.approx(2 * 8 * 7 / 8 * 8 / out.payload_bps)


@pytest.mark.parametrize("name", ["dgx-h100", "dgx-b200", "gb200-nvl72"])
def test_nvls_algbw_limit_is_reduction_rate_over_one_plus_one_over_n(lib, name):
    hn = lib.load(name)
    system = build_system(hn, hn.gpus)
    t = system.tiers[0]
    p = predict(system, "all_reduce", [1e15], "nvls")
    expected = t.payload_bps / 8e9 * t.reduction_efficiency / (1 + 1 / hn.gpus)
    assert p.algbw_GBps[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("collective", COLLECTIVES)
@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 2**36))
def test_busbw_never_above_bottleneck_line_rate(lib, collective, size):
    for system in systems(lib):
        line_GBps = min(system.tiers[i].line_bps for i in system.active()) / 8e9
        algos = {"alltoall": ["direct"], "sendrecv": ["direct"], "broadcast": ["ring"],
                 "reduce": ["ring"]}.get(collective, ["ring", "hd"])
        for algo in algos:
            p = predict(system, collective, [size], algo)
            assert p.busbw_GBps[0] <= line_GBps * (1 + 1e-9)
        if collective == "all_reduce" and system.tiers[0].reduction_efficiency > 0:
            # in-network reduction: each GPU moves (1 + 1/n) S through its own links
            p = predict(system, collective, [size], "nvls")
            n = system.tiers[0].size
            assert p.algbw_GBps[0] * (1 + 1 / n) <= system.tiers[0].line_bps / 8e9


@pytest.mark.parametrize("collective", COLLECTIVES)
@settings(max_examples=40, deadline=None)
@given(a=st.integers(1, 2**36), b=st.integers(1, 2**36))
def test_time_monotonic_in_size(lib, collective, a, b):
    lo, hi = sorted((a, b))
    for system in systems(lib):
        p = predict(system, collective, [lo, hi])
        # flat below the channel ramp (size / channels x size per channel): rounding only
        assert p.time_s[0] <= p.time_s[1] * (1 + 1e-12)


def test_one_rank_sends_nothing(lib):
    system = build_system(lib.load("dgx-h100"), 1)
    p = predict(system, "all_reduce", [1 << 20])
    assert p.time_s[0] == pytest.approx(system.launch_s)
    assert p.busbw_GBps[0] == 0.0


def test_more_bandwidth_never_slower(lib):
    hn = lib.load("dgx-h100")
    sw = lib.load("tomahawk5-51t2")
    slow = build_system(hn, 32, switch=sw, nic_rate_bps=200e9)
    fast = build_system(hn, 32, switch=sw, nic_rate_bps=800e9)
    sizes = [8, 1 << 20, 1 << 30]
    assert np.all(predict(fast, "all_reduce", sizes).time_s
                  <= predict(slow, "all_reduce", sizes).time_s)


@pytest.mark.parametrize("args,fragment", [
    (("bogus", "ring", "Simple"), "collective: unknown 'bogus'"),
    (("all_reduce", "bogus", "Simple"), "algorithm: unknown 'bogus'"),
    (("all_reduce", "ring", "bogus"), "protocol: unknown 'bogus'"),
    (("all_gather", "tree", "Simple"), "all_reduce only"),
    (("alltoall", "ring", "Simple"), "ring does not implement alltoall"),
    (("all_reduce", "direct", "Simple"), "direct implements alltoall"),
    (("broadcast", "hd", "Simple"), "does not implement broadcast"),
])
def test_bad_requests_name_the_parameter(lib, args, fragment):
    system = build_system(lib.load("dgx-h100"), 8)
    with pytest.raises(FabricTwinError, match=fragment):
        cost(system, *args)


def test_nvls_needs_in_switch_reduction(lib):
    system = build_system(lib.load("dgx-a100"), 8)
    with pytest.raises(FabricTwinError, match="nvls needs in-switch reduction"):
        predict(system, "all_reduce", [1 << 20], "nvls")


def test_ll128_runs_across_nodes_on_hopper(lib):
    # NCCL enables LL128 over IB/RoCE NICs on Hopper (tuning.cc): --algo ring --protocol LL128
    system = build_system(lib.load("dgx-h100"), 16, switch=lib.load("tomahawk5-51t2"))
    c = cost(system, "all_reduce", "ring", "LL128")
    assert c.s_per_byte > 0 and c.pipe.overhead_bytes == 0.0  # flags in every line


def test_ll128_needs_every_tier_to_keep_lines_whole():
    up = tier(size=8, ll128=True)
    out = tier("scale-out", size=2, payload_bps=3.2e12, ordered=True)  # ll128 False
    with pytest.raises(FabricTwinError, match="cannot run LL128"):
        cost(System("x", (up, out), launch_s=0.0), "all_reduce", "ring", "LL128")


@pytest.mark.parametrize("bad", [[0], [-1], [float("nan")], [[1, 2]]])
def test_sizes_must_be_positive(lib, bad):
    system = build_system(lib.load("dgx-h100"), 8)
    with pytest.raises(FabricTwinError, match="size"):
        predict(system, "all_reduce", bad)


def test_phased_stages_add_their_times_where_pipelined_stages_take_the_slowest():
    """The emulator's hierarchical all-reduce runs its phases one after another."""
    from fabrictwin.hardware.profiles import ProfileLibrary
    from fabrictwin.model import build_system
    lib = ProfileLibrary()
    s = build_system(lib.load("dgx-h100"), 16, switch=lib.load("tomahawk5-51t2"))
    piped = cost(s, "all_reduce", "ring/ring", "Simple")
    phased = cost(s, "all_reduce", "phased", "Simple")
    assert phased.latency_s == piped.latency_s
    per_tier = [2 * (t.size - 1) / t.size * 8 / t.payload_bps for t in s.tiers]
    assert piped.s_per_byte == pytest.approx(max(per_tier))
    assert phased.s_per_byte == pytest.approx(sum(per_tier))


def test_a_measured_call_floor_bounds_every_size_from_below(lib):
    hn = lib.load("dgx-h100")
    sizes = [8, 1 << 16, 1 << 20, 1 << 30]
    alone = predict(build_system(hn, 8), "all_reduce", sizes)
    floored = predict(build_system(hn, 8, call_floor_s=30e-6), "all_reduce", sizes)
    assert np.array_equal(floored.time_s, np.maximum(alone.time_s, 30e-6))
    assert list(floored.floor_bound) == list(alone.time_s < 30e-6)
    assert floored.floor_bound[0] and not floored.floor_bound[-1]
    assert floored.row(0)["bottleneck"] == "host call floor"
    assert list(floored.algorithm) == list(alone.algorithm)
    for bad in (-1e-6, math.inf, math.nan):
        with pytest.raises(FabricTwinError, match="call_floor_s"):
            build_system(hn, 8, call_floor_s=bad)
