"""PFC headroom and lossless thresholds: hand-computed examples, monotonicity, buffer safety."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.headroom import (
    Headroom,
    LosslessThresholds,
    emulated_headroom,
    lossless_thresholds,
    pfc_headroom,
    standard_response_ns,
)

G = 1e9


# -- hardware headroom -------------------------------------------------------------------------
def test_100g_100m_mtu_9216_by_hand():
    h = pfc_headroom(100 * G, 100, 9216)
    # cable: 2 x 100 m x 5 ns/m = 1000 ns; 1000 ns x 100 Gb/s = 100 000 bit = 12 500 B
    assert h.cable_bytes == pytest.approx(12_500)
    # frames: (9216 + 20) here + (64 + 20) PFC frame + (9216 + 20) upstream = 18 556 B
    assert h.frames_bytes == 18_556
    # response: 394 quanta x 512 = 201 728 bit (802.3 31B) + 2 x 122 880 bit (interfaces)
    #         = 447 488 bit = 55 936 B
    assert h.response_bytes == pytest.approx(55_936)
    assert h.total_bytes == 12_500 + 18_556 + 55_936 == 86_992


def test_400g_100m_mtu_4200_by_hand():
    h = pfc_headroom(400 * G, 100, 4200)
    # cable: 1000 ns x 400 Gb/s = 400 000 bit = 50 000 B
    # frames: 4220 + 84 + 4220 = 8 524 B
    # response: 905 x 512 = 463 360 bit + 2 x (1228.8 ns x 400 Gb/s = 491 520 bit)
    #         = 1 446 400 bit = 180 800 B
    assert h.as_dict() == pytest.approx({"cable_bytes": 50_000, "frames_bytes": 8_524,
                                         "response_bytes": 180_800, "total_bytes": 239_324})
    assert h.total_bytes == 239_324


def test_explicit_response_and_propagation_speed():
    # 10 Gb/s, 0 m, 1500 B, 1 us response: 0 + (1520 + 84 + 1520) + 10 000 bit / 8
    h = pfc_headroom(10 * G, 0, 1500, response_ns=1000)
    assert h == Headroom(0.0, 3124.0, 1250.0, 4374)
    # twinax at ~4.76 ns/m: 2 x 100 x 4.76 ns x 10 Gb/s = 9520 bit = 1190 B
    assert pfc_headroom(10 * G, 100, 1500, response_ns=0,
                        ns_per_m=4.76).cable_bytes == pytest.approx(1190)


def test_standard_response_at_tabulated_rates():
    # (quanta x 512 + 2 x interface bit times) / rate
    assert standard_response_ns(10 * G) == pytest.approx((60 * 512 + 2 * 8192) / 10)
    assert standard_response_ns(25 * G) == pytest.approx((80 * 512 + 2 * 6144) / 25)
    assert standard_response_ns(40 * G) == pytest.approx((118 * 512 + 2 * 24576) / 40)
    assert standard_response_ns(100 * G) == pytest.approx((394 * 512 + 2 * 122880) / 100)
    # outside the table the tabulated time is kept
    assert standard_response_ns(1 * G) == pytest.approx(standard_response_ns(10 * G))
    assert standard_response_ns(800 * G) == pytest.approx(standard_response_ns(400 * G))
    # the default equals passing that time explicitly
    for rate in (1 * G, 50 * G, 200 * G, 800 * G):
        assert pfc_headroom(rate, 30, 4096).total_bytes == pytest.approx(
            pfc_headroom(rate, 30, 4096, response_ns=standard_response_ns(rate)).total_bytes,
            abs=1)


def test_components_add_up():
    h = pfc_headroom(200 * G, 37.5, 9000)
    assert h.total_bytes == math.ceil(h.cable_bytes + h.frames_bytes + h.response_bytes)
    assert set(h.as_dict()) == {"cable_bytes", "frames_bytes", "response_bytes", "total_bytes"}


rates = st.floats(min_value=1e6, max_value=1.6e12)
lengths = st.floats(min_value=0, max_value=10_000)
mtus = st.integers(min_value=64, max_value=16_384)


def _monotone(a: Headroom, b: Headroom) -> None:
    for key in ("cable_bytes", "frames_bytes", "response_bytes"):
        assert getattr(a, key) <= getattr(b, key) * (1 + 1e-12) + 1e-9
    assert a.total_bytes <= b.total_bytes


@settings(max_examples=300, deadline=None)
@given(rates, rates, lengths, mtus)
def test_monotonic_in_rate(r1, r2, cable_m, mtu):
    lo, hi = sorted((r1, r2))
    _monotone(pfc_headroom(lo, cable_m, mtu), pfc_headroom(hi, cable_m, mtu))


@settings(max_examples=300, deadline=None)
@given(rates, lengths, lengths, mtus)
def test_monotonic_in_cable_length(rate, l1, l2, mtu):
    lo, hi = sorted((l1, l2))
    _monotone(pfc_headroom(rate, lo, mtu), pfc_headroom(rate, hi, mtu))


@settings(max_examples=200, deadline=None)
@given(rates, lengths, mtus, mtus)
def test_monotonic_in_mtu(rate, cable_m, m1, m2):
    lo, hi = sorted((m1, m2))
    _monotone(pfc_headroom(rate, cable_m, lo), pfc_headroom(rate, cable_m, hi))


# -- emulated headroom -------------------------------------------------------------------------
def test_emulated_by_hand():
    # 400 Gb/s dilated 1000 x: 400 Mb/s; 500 ns of hardware delay becomes 500 us.
    h = emulated_headroom(400e6, 500_000, 4200, reaction_ns=2_000_000)
    # cable: 2 x 500 us x 400 Mb/s = 400 000 bit = 50 000 B (dilation keeps bytes in flight)
    # frames: 2 x 4200 = 8 400 B
    # response: 2 ms x 400 Mb/s = 800 000 bit = 100 000 B
    assert h == Headroom(50_000.0, 8_400.0, 100_000.0, 158_400)


def test_emulated_sender_queue_adds_to_response():
    base = emulated_headroom(1e8, 0, 1500, 1_000_000)
    # 1 ms x 100 Mb/s = 12 500 B; plus a 64 KiB NIC queue
    assert base.response_bytes == pytest.approx(12_500)
    more = emulated_headroom(1e8, 0, 1500, 1_000_000, sender_queue_bytes=65_536)
    assert more.response_bytes == pytest.approx(12_500 + 65_536)
    assert more.total_bytes == base.total_bytes + 65_536


def test_dilation_keeps_cable_bytes_but_reaction_dominates():
    hw = pfc_headroom(400 * G, 100, 4200)
    for dilation in (100, 1000, 10_000):
        em = emulated_headroom(400 * G / dilation, 500 * dilation, 4200, reaction_ns=1e6)
        assert em.cable_bytes == pytest.approx(hw.cable_bytes)
    # with a fixed 1 ms reaction, a smaller dilation (faster emulated link) needs more room
    fast = emulated_headroom(4e9, 50_000, 4200, 1e6)
    slow = emulated_headroom(4e8, 500_000, 4200, 1e6)
    assert fast.response_bytes == pytest.approx(10 * slow.response_bytes)
    assert fast.response_bytes > fast.cable_bytes + fast.frames_bytes


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e5, max_value=1e11), st.floats(min_value=0, max_value=1e7),
       st.floats(min_value=0, max_value=1e8), st.floats(min_value=1.0, max_value=10.0))
def test_emulated_monotonic(rate, delay_ns, reaction_ns, k):
    a = emulated_headroom(rate, delay_ns, 1500, reaction_ns)
    for b in (emulated_headroom(rate * k, delay_ns, 1500, reaction_ns),
              emulated_headroom(rate, delay_ns * k, 1500, reaction_ns),
              emulated_headroom(rate, delay_ns, 1500, reaction_ns * k)):
        _monotone(a, b)


# -- thresholds --------------------------------------------------------------------------------
def test_thresholds_by_hand():
    # 32 MiB over 32 ports: 1 MiB = 1 048 576 B each; XOFF = 1 048 576 - 239 324 = 809 252;
    # XON = XOFF - 2 x 4200 = 800 852
    t = lossless_thresholds(32 << 20, 32, 239_324, 4200)
    assert t == LosslessThresholds(32 << 20, 32, 239_324, 809_252, 800_852)
    assert t.as_dict()["xoff_bytes"] == 809_252


def test_thresholds_custom_gap_and_floor():
    assert lossless_thresholds(100_000, 4, 10_000, 1500, xon_gap_bytes=5000).xon_bytes == 10_000
    # share 25 000, XOFF 15 000: a gap larger than XOFF floors XON at 0
    assert lossless_thresholds(100_000, 4, 10_000, 1500, xon_gap_bytes=20_000).xon_bytes == 0
    # exactly headroom + 2 MTU per port is enough: XOFF = 2 MTU, XON = 0
    t = lossless_thresholds(4 * 13_000, 4, 10_000, 1500)
    assert (t.xoff_bytes, t.xon_bytes) == (3000, 0)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=256), st.integers(min_value=0, max_value=2_000_000),
       st.integers(min_value=64, max_value=16_384), st.integers(min_value=0, max_value=10**9),
       st.one_of(st.none(), st.integers(min_value=0, max_value=100_000)))
def test_thresholds_never_overflow(ports, headroom, mtu, spare, gap):
    buffer = ports * (headroom + 2 * mtu) + spare
    t = lossless_thresholds(buffer, ports, headroom, mtu, xon_gap_bytes=gap)
    assert ports * (t.xoff_bytes + t.headroom_bytes) <= buffer
    assert t.xoff_bytes >= 2 * mtu
    assert 0 <= t.xon_bytes <= t.xoff_bytes
    assert t.xon_bytes == max(0, t.xoff_bytes - (2 * mtu if gap is None else gap))


def test_thresholds_too_small_buffer_names_the_numbers():
    with pytest.raises(FabricTwinError) as e:
        lossless_thresholds(1_000_000, 8, 120_000, 4200)
    msg = str(e.value)
    assert "\n" not in msg
    # 1 000 000 / 8 = 125 000 < 120 000 + 8400 = 128 400
    for number in ("1000000", "8", "125000", "120000", "4200", "128400"):
        assert number in msg


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs", [
    ((0, 100, 1500), {}),
    ((-1e9, 100, 1500), {}),
    ((float("nan"), 100, 1500), {}),
    ((float("inf"), 100, 1500), {}),
    ((10e9, -1, 1500), {}),
    ((10e9, 100, 0), {}),
    ((10e9, 100, -1500), {}),
    ((10e9, 100, 1500), {"response_ns": -1}),
    ((10e9, 100, 1500), {"ns_per_m": 0}),
    (("10e9", 100, 1500), {}),
    ((True, 100, 1500), {}),
])
def test_pfc_headroom_rejects(args, kwargs):
    with pytest.raises(FabricTwinError) as e:
        pfc_headroom(*args, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("args", [
    (0, 1000, 1500, 1000),
    (1e9, -1, 1500, 1000),
    (1e9, 1000, 0, 1000),
    (1e9, 1000, 1500, -1),
    (1e9, 1000, 1500, 1000, -1),
])
def test_emulated_headroom_rejects(args):
    with pytest.raises(FabricTwinError):
        emulated_headroom(*args)


@pytest.mark.parametrize("args, kwargs", [
    ((1_000_000, 0, 1000, 1500), {}),
    ((1_000_000, -2, 1000, 1500), {}),
    ((1_000_000, 4, 1000, 0), {}),
    ((1_000_000, 4, -1, 1500), {}),
    ((-1, 4, 1000, 1500), {}),
    ((1_000_000.5, 4, 1000, 1500), {}),
    ((1_000_000, 4, 1000, 1500), {"xon_gap_bytes": -1}),
    ((0, 1, 0, 1), {}),
])
def test_lossless_thresholds_rejects(args, kwargs):
    with pytest.raises(FabricTwinError) as e:
        lossless_thresholds(*args, **kwargs)
    assert "\n" not in str(e.value)


def test_standard_response_rejects_bad_rate():
    with pytest.raises(FabricTwinError):
        standard_response_ns(0)
