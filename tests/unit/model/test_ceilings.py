"""NCCL's per-channel bandwidth caps across nodes (fabrictwin.model.ceilings), by hand."""

from __future__ import annotations

import math

import pytest

from fabrictwin.model import build_system, cost, predict
from fabrictwin.model.ceilings import algbw_ceiling_Bps, search_channels

GB = 1e9


def system(lib, profile: str, gpus: int, **kw):
    return build_system(lib.load(profile), gpus, switch=lib.load("tomahawk5-51t2"), **kw)


def test_two_h100_nodes_caps_by_hand(lib):
    s = system(lib, "dgx-h100", 16)  # 8 x 400G NICs per node: 8 search channels
    assert search_channels(s, "tree") == search_channels(s, "nvls") == 8
    # tree: bus bandwidth 8 x perChMax, algorithm bandwidth half of it
    tree = algbw_ceiling_Bps(s, "all_reduce", "tree", "Simple")
    assert tree == pytest.approx(0.5 * 8 * 41.4 * GB)
    tree_ll128 = algbw_ceiling_Bps(s, "all_reduce", "tree", "LL128")
    assert tree_ll128 == pytest.approx(0.5 * 8 * 36.7 * GB)
    # ring LL128 and NVLSTree: bus bandwidth x ranks / steps
    assert algbw_ceiling_Bps(s, "all_reduce", "ring", "LL128") == pytest.approx(
        8 * 36.7 * GB * 16 / 30)
    assert algbw_ceiling_Bps(s, "all_gather", "ring", "LL128") == pytest.approx(
        8 * 36.7 * GB * 16 / 15)
    assert algbw_ceiling_Bps(s, "all_reduce", "nvls", "Simple") == pytest.approx(
        8 * 57.7 * GB * 16 / 30)
    assert math.isinf(algbw_ceiling_Bps(s, "all_reduce", "ring", "Simple"))


def test_the_cap_sets_the_asymptote_where_it_is_below_the_links(lib):
    s = system(lib, "dgx-h100", 16)
    # the chain in the node would give 360 GB/s / 2 x 120/128 = 168.75 GB/s
    c = cost(s, "all_reduce", "tree", "LL128")
    assert 1 / c.s_per_byte == pytest.approx(146.8 * GB)
    # NVLSTree on two B200 nodes: the cap, 8 x 96 x 16/30 = 409.6 GB/s, is above what
    # 8 x 400G NICs carry (one tree edge: S each way), 3.2 Tb/s x 4096/4178
    b = system(lib, "dgx-b200", 16)
    assert algbw_ceiling_Bps(b, "all_reduce", "nvls", "Simple") == pytest.approx(409.6 * GB)
    nvls = cost(b, "all_reduce", "nvls", "Simple")
    assert 1 / nvls.s_per_byte == pytest.approx(3.2e12 / 8 * 4096 / 4178)


def test_more_than_two_nodes_use_the_third_column(lib):
    s = system(lib, "dgx-h100", 32)
    tree_ll128 = algbw_ceiling_Bps(s, "all_reduce", "tree", "LL128")
    assert tree_ll128 == pytest.approx(0.5 * 8 * 29.0 * GB)
    assert algbw_ceiling_Bps(s, "all_reduce", "nvls", "Simple") == pytest.approx(
        8 * 45.5 * GB * 32 / 62)


def test_no_cap_in_one_node_or_without_an_nccl_generation(lib):
    one = build_system(lib.load("dgx-h100"), 8)
    assert search_channels(one, "tree") == 0
    assert math.isinf(algbw_ceiling_Bps(one, "all_reduce", "tree", "LL128"))
    generic = system(lib, "oex", 16, nodes=2)
    assert math.isinf(algbw_ceiling_Bps(generic, "all_reduce", "tree", "LL128"))


def test_search_channels_follow_the_nics(lib):
    four = system(lib, "dgx-a100", 16, nics_per_node=4)
    assert search_channels(four, "tree") == 4
    many = system(lib, "dgx-h100", 16, nics_per_node=32)
    assert search_channels(many, "tree") == 16  # MAXCHANNELS / 2
    assert search_channels(many, "nvls") == 8   # one NVLS head per GPU


def test_two_a100_nodes_keep_the_ring_as_nccl_does(lib):
    # tree: 0.5 x 8 x 23.6 = 94.4 GB/s; ring: 8 x 200G x 4096/4178 / 1.875 = 104.6 GB/s
    s = system(lib, "dgx-a100", 16)
    assert algbw_ceiling_Bps(s, "all_reduce", "tree", "Simple") == pytest.approx(94.4 * GB)
    assert predict(s, "all_reduce", [2 << 30]).algorithm[0] == "ring"
