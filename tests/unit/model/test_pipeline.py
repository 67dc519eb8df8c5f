"""NCCL's channel ramp and chunk handshakes (fabrictwin.model.pipeline)."""

from __future__ import annotations

import numpy as np
import pytest

from fabrictwin.model import build_system, cost, size_sweep
from fabrictwin.model.pipeline import BYTES_PER_CHANNEL, chunk_overhead_s

SIZES = size_sweep(8, 16 << 30)


@pytest.mark.parametrize("protocol", ["LL", "LL128", "Simple"])
def test_channel_ramp_is_monotonic_and_reaches_all_channels(lib, protocol):
    system = build_system(lib.load("dgx-h100"), 8)
    pipe = cost(system, "all_reduce", "ring", protocol).pipe
    active = pipe.active_channels(SIZES)
    assert np.all(np.diff(active) >= 0)
    assert active[0] == 1 and active[-1] == system.channels == 32
    # full channels from channels x threads x threshold (x ranks for ring LL)
    full = 32 * BYTES_PER_CHANNEL[protocol] * (8 if protocol == "LL" else 1)
    assert pipe.active_channels([full])[0] == 32
    assert pipe.active_channels([full / 2])[0] == 16


@pytest.mark.parametrize("algo", ["ring", "tree", "nvls"])
def test_bandwidth_factor_falls_to_one_with_size(lib, algo):
    system = build_system(lib.load("dgx-h100"), 16, switch=lib.load("tomahawk5-51t2"))
    c = cost(system, "all_reduce", algo, "Simple")
    factor = c.pipe.factor(SIZES)
    assert np.all(factor >= 1.0 - 1e-12)
    assert factor[-1] == pytest.approx(1.0)
    # time never falls as the size grows, though the rate does
    t = c.time_s(SIZES)
    assert np.all(np.diff(t) >= 0)


def test_nvls_mid_size_slower_than_asymptote(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    c = cost(system, "all_reduce", "nvls", "Simple")
    assert c.pipe.chunk_bytes([1 << 20])[0] < c.pipe.chunk_bytes([8 << 30])[0] == 128 << 10
    assert c.pipe.factor([64 << 20])[0] > 1.05


def test_chunk_overhead_is_simple_only(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    up = system.tiers[0]
    assert chunk_overhead_s(system, 0, "Simple") == pytest.approx(up.sync_s + up.fence_s)
    assert chunk_overhead_s(system, 0, "LL") == chunk_overhead_s(system, 0, "LL128") == 0.0


def test_nvls_chunks_in_one_node_follow_nccls_ladder(lib):
    # one 8 x H100 node: 16 channels x 8 heads; NCCL's calcCollChunking halves 128 KiB
    # below 64 x ops x 128 KiB (1 GiB), 64 KiB below 8 x ops x 64 KiB (64 MiB), 32 KiB
    # below 2 x ops x 32 KiB (8 MiB)
    one = cost(build_system(lib.load("dgx-h100"), 8), "all_reduce", "nvls", "Simple").pipe
    ops = 16 * 8
    assert one.chunk_bytes([4 << 20])[0] == 16 << 10
    assert one.chunk_bytes([2 * ops * (32 << 10)])[0] == 32 << 10
    assert one.chunk_bytes([16 << 20])[0] == 32 << 10
    assert one.chunk_bytes([64 << 20])[0] == 64 << 10
    assert one.chunk_bytes([256 << 20])[0] == 64 << 10
    assert one.chunk_bytes([1 << 30])[0] == 128 << 10
    # across nodes NVLSTree keeps the smooth share / 8 from 32 KiB
    two = cost(build_system(lib.load("dgx-h100"), 16, switch=lib.load("tomahawk5-51t2")),
               "all_reduce", "nvls", "Simple").pipe
    assert two.chunk_bytes([16 << 20])[0] == 32 << 10
    assert two.chunk_bytes([64 << 20])[0] == 64 << 10


def test_ll_ceiling_caps_all_channels_together(lib):
    # 4 x 8 H100, 8 x 400G: NCCL caps the LL ring's bus bandwidth of all channels at
    # llMaxBw (20.4 GB/s on more than two nodes), far below what 32 channels reach, so a
    # message on 8 of the 32 channels (ring LL: 32 x 512 x 8 B per channel) still runs
    # at the ceiling, and only one far below it (one channel) is slowed
    system = build_system(lib.load("dgx-h100"), 32, nodes=4, nics_per_node=8,
                          nic_rate_bps=400e9, switch=lib.load("tomahawk5-51t2"))
    c = cost(system, "all_gather", "ring", "LL")
    assert 0 < c.pipe.ceiling < 1
    per_channel = 32 * 512 * 8
    assert c.pipe.active_channels([8 * per_channel])[0] == 8
    assert c.s_per_byte_at(8 * per_channel) == pytest.approx(c.s_per_byte)
    slowed = c.s_per_byte_at(per_channel) / c.s_per_byte
    assert slowed == pytest.approx(32 * c.pipe.ceiling)
    assert slowed > 1
    # LL128 and Simple have no such ceiling: their ramp is the channels' share
    assert cost(system, "all_gather", "ring", "LL128").pipe.ceiling == 1.0
