"""DCQCN scaled to the path's round trip: its values at 10 and 100 km, the variant registry,
and a fluid loop where the paper's timers oscillate and the scaled ones settle."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.dcqcn import CC_VARIANTS, CnpPacer, DcqcnParams, DcqcnRate, cc_params

LINE = 400e9
# zr400 one way: d x 4.9 ns/m + 2 x 2 us of transponders; RTT = twice that
RTT_10KM = 106_000.0    # 2 x (49 us + 4 us)
RTT_100KM = 988_000.0   # 2 x (490 us + 4 us)


def test_the_round_trips_are_the_zr400_profiles():
    from fabrictwin.hardware.profiles import ProfileLibrary

    zr400 = ProfileLibrary().load("zr400", "dci")
    assert 2 * zr400.latency_ns(10_000) == pytest.approx(RTT_10KM)
    assert 2 * zr400.latency_ns(100_000) == pytest.approx(RTT_100KM)


@pytest.mark.parametrize(("rtt", "loop", "bytes_"), [
    # loop = N + RTT; timers = loop; B = 10 MB x loop / 55 us
    (RTT_10KM, 156_000.0, 28_363_636),    # 10e6 x 156 / 55 = 28 363 636.4
    (RTT_100KM, 1_038_000.0, 188_727_273),  # 10e6 x 1038 / 55 = 188 727 272.7
])
def test_rtt_scaled_values(rtt, loop, bytes_):
    p = cc_params("dcqcn-rtt", LINE, rtt)
    assert (p.alpha_timer_ns, p.increase_timer_ns) == (loop, loop)
    assert p.byte_counter_bytes == bytes_
    assert p.cnp_interval_ns == rtt  # one CNP per round trip
    # per increase event the paper's steps, at 400G ten times the 40G ones
    assert (p.rate_ai_bps, p.rate_hai_bps, p.min_rate_bps) == pytest.approx((400e6, 4e9, 100e6))
    assert (p.g, p.fast_recovery_steps) == (1 / 256, 5)
    std = cc_params("dcqcn", LINE, rtt)
    assert std == DcqcnParams().for_line_rate(LINE) and std.increase_timer_ns == 55_000
    # what the variant is for: increases a sender makes per feedback loop
    assert loop / std.increase_timer_ns > 2.8 and loop / p.increase_timer_ns == 1


def test_inside_a_datacentre_nothing_changes():
    p = DcqcnParams()
    assert p.for_rtt(0) == p.for_rtt(5_000) == p  # N + RTT within the paper's 55 us
    assert p.for_rtt(5_001).increase_timer_ns == 55_001


def test_composes_with_line_rate_and_dilation():
    p, d = DcqcnParams(), 1000.0
    a = p.for_line_rate(LINE).for_rtt(RTT_100KM).dilated(d)
    b = p.dilated(d).for_rtt(RTT_100KM * d).for_line_rate(LINE)  # emulated RTT, same loop
    assert a.increase_timer_ns == pytest.approx(1_038_000 * d)
    for key in ("alpha_timer_ns", "increase_timer_ns", "cnp_interval_ns", "rate_ai_bps",
                "rate_hai_bps", "min_rate_bps"):
        assert getattr(a, key) == pytest.approx(getattr(b, key)), key
    assert a.byte_counter_bytes == b.byte_counter_bytes
    assert p.for_rtt(RTT_10KM).for_line_rate(LINE) == p.for_line_rate(LINE).for_rtt(RTT_10KM)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "1ms"])
def test_bad_rtt_is_refused(bad):
    with pytest.raises(FabricTwinError, match="dcqcn: rtt_ns must be a finite non-negative"):
        DcqcnParams().for_rtt(bad)


def test_registry_names_and_unknown_names():
    assert list(CC_VARIANTS) == ["dcqcn", "dcqcn-rtt"]
    with pytest.raises(FabricTwinError) as e:
        cc_params("hpcc", LINE, RTT_10KM)
    assert str(e.value) == "cc: unknown congestion control 'hpcc' (known: dcqcn, dcqcn-rtt)"
    with pytest.raises(TypeError):
        CC_VARIANTS["x"] = CC_VARIANTS["dcqcn"]  # type: ignore[index]


# -- a fluid loop ------------------------------------------------------------------------------
@dataclass
class Loop:
    mean_queue_bytes: float   # time-averaged queue over the second half
    max_queue_bytes: float
    utilisation: float        # of the bottleneck, second half
    rate_spread: float        # standard deviation of the total rate / capacity, second half
    cuts: int                 # CNPs the senders acted on, whole run


def fluid_loop(params: DcqcnParams, rtt_ns: float, *, flows: int = 2,
               capacity_bps: float = LINE, mark_bytes: float = 100e3,
               span_ns: float = 600e6, dt_ns: float = 5_000.0) -> Loop:
    """``flows`` senders at line rate into one bottleneck of ``capacity_bps``. The queue
    marks every frame while it holds more than ``mark_bytes`` (step marking); the
    receiver paces CNPs per QP at the parameters' N, and a CNP reaches its sender one
    ``rtt_ns`` later. The senders sit next to the queue, so the whole feedback delay is
    the CNP's trip: a fixed delay, as over a DCI."""
    senders = [DcqcnRate(LINE, params) for _ in range(flows)]
    pacer = CnpPacer(params.cnp_interval_ns)
    in_flight: deque[tuple[float, int]] = deque()
    queue = 0.0
    late_q, late_rate = [], []
    max_q = 0.0
    steps = int(span_ns / dt_ns)
    for k in range(steps):
        t = k * dt_ns
        total = sum(s.rate_bps for s in senders)
        queue = max(0.0, queue + (total - capacity_bps) * dt_ns / 8e9)
        for i, s in enumerate(senders):
            s.on_sent(int(s.rate_bps * dt_ns / 8e9), t)
            if queue > mark_bytes and pacer.should_send(i, t):
                in_flight.append((t + rtt_ns, i))
        while in_flight and in_flight[0][0] <= t:
            senders[in_flight.popleft()[1]].on_cnp(t)
        if k >= steps // 2:
            late_q.append(queue)
            late_rate.append(total)
            max_q = max(max_q, queue)
    return Loop(statistics.fmean(late_q), max_q,
                statistics.fmean(min(r, capacity_bps) for r in late_rate) / capacity_bps,
                statistics.pstdev(late_rate) / capacity_bps, sum(s.cuts for s in senders))


@pytest.fixture(scope="module")
def loops_100km():
    return {name: fluid_loop(cc_params(name, LINE, RTT_100KM), RTT_100KM)
            for name in CC_VARIANTS}


def test_paper_timers_oscillate_over_100_km(loops_100km):
    std, rtt = loops_100km["dcqcn"], loops_100km["dcqcn-rtt"]
    # the paper's timers: a deep sawtooth (queue megabytes, rate swinging by a large part
    # of the link), the bottleneck idle much of the time after its over-cuts
    assert std.rate_spread > 0.3 and std.max_queue_bytes > 10e6
    assert std.utilisation < 0.5
    # scaled to the loop: a small queue, the rate near the fair share
    assert rtt.rate_spread < std.rate_spread / 4
    assert rtt.mean_queue_bytes < std.mean_queue_bytes / 20
    assert rtt.max_queue_bytes < std.max_queue_bytes / 5
    assert rtt.utilisation > 0.9
    assert rtt.cuts < std.cuts / 5  # about one cut per loop, not one per 50 us


def test_paper_timers_oscillate_more_over_10_km():
    std = fluid_loop(cc_params("dcqcn", LINE, RTT_10KM), RTT_10KM, span_ns=200e6)
    rtt = fluid_loop(cc_params("dcqcn-rtt", LINE, RTT_10KM), RTT_10KM, span_ns=200e6)
    assert rtt.rate_spread < std.rate_spread / 1.5
    assert rtt.mean_queue_bytes < std.mean_queue_bytes
    assert rtt.utilisation > std.utilisation


def test_inside_a_datacentre_the_variants_are_the_same_loop():
    a = fluid_loop(cc_params("dcqcn", LINE, 4_000), 4_000, span_ns=20e6, dt_ns=1_000)
    b = fluid_loop(cc_params("dcqcn-rtt", LINE, 4_000), 4_000, span_ns=20e6, dt_ns=1_000)
    assert a == b
