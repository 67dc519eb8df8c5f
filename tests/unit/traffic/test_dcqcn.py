"""DCQCN against the paper's equations, and go-back-N over a fake lossy link."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.dcqcn import CnpPacer, DcqcnParams, DcqcnRate
from fabrictwin.traffic.reliability import (
    ACCEPT,
    GoBackNReceiver,
    GoBackNSender,
    TokenBucket,
)

US = 1000
G = 1 / 256
LINE = 40e9



# -- DCQCN (Zhu et al. 2015) -------------------------------------------------------------------
def test_cnp_cuts_rate_by_half_alpha_and_raises_alpha():
    r = DcqcnRate(LINE)
    assert (r.rc, r.rt, r.alpha) == (LINE, LINE, 1.0)
    r.on_cnp(0)
    assert r.rt == LINE and r.rc == LINE * (1 - 1.0 / 2)
    assert r.alpha == pytest.approx((1 - G) * 1.0 + G)
    r.advance(30 * US)
    alpha, rc = r.alpha, r.rc
    r.on_cnp(30 * US)  # the target is the rate at the cut; alpha grows toward 1
    assert r.rt == rc and r.rc == pytest.approx(rc * (1 - alpha / 2))
    assert r.alpha == pytest.approx((1 - G) * alpha + G)
    assert r.cuts == 2


def test_alpha_decays_every_K_without_cnp():
    r = DcqcnRate(LINE)
    r.on_cnp(0)
    a0 = r.alpha
    for k in range(1, 6):
        r.advance(k * 55 * US)
        assert r.alpha == pytest.approx(a0 * (1 - G) ** k)


def test_fast_recovery_then_additive_increase_on_timer():
    p = DcqcnParams()
    r = DcqcnRate(LINE, p)
    r.on_cnp(0)
    r.on_cnp(1 * US)  # two cuts: the target (20G) is now below line rate
    rt, rc = r.rt, r.rc
    assert (rt, rc) == (LINE / 2, pytest.approx(LINE / 4))
    for k in range(1, p.fast_recovery_steps + 1):  # F timer events: halve the gap to R_T
        r.advance(1 * US + k * 55 * US)
        rc = (rt + rc) / 2
        assert (r.rt, r.rc) == (rt, pytest.approx(rc))
    for k in range(p.fast_recovery_steps + 1, p.fast_recovery_steps + 4):  # then R_T += R_AI
        r.advance(1 * US + k * 55 * US)
        rt += p.rate_ai_bps
        rc = (rt + rc) / 2
        assert (r.rt, r.rc) == (pytest.approx(rt), pytest.approx(rc))


def test_hyper_increase_needs_both_timer_and_byte_counter():
    p = DcqcnParams()
    r = DcqcnRate(LINE, p)
    r.on_cnp(0)
    r.on_cnp(1 * US)
    t0 = 1 * US
    for k in range(1, 6):  # five timer events (fast recovery)
        r.advance(t0 + k * 55 * US)
    for _ in range(5):  # five byte-counter events: timer count is 5, byte count < 5: AI
        rt, rc = r.rt, r.rc
        r.on_sent(p.byte_counter_bytes, t0 + 5 * 55 * US + 1)
        assert r.rt == pytest.approx(rt + p.rate_ai_bps)
        assert r.rc == pytest.approx((r.rt + rc) / 2)
    assert (r.timer_events, r.byte_events) == (5, 5)
    for k, i in ((6, 1), (7, 1)):  # both counters >= F: R_T += i R_HAI, i = min(t, b) - F + 1
        rt = r.rt
        r.advance(t0 + k * 55 * US)
        assert r.rt == pytest.approx(rt + i * p.rate_hai_bps)
    rt = r.rt
    r.on_sent(p.byte_counter_bytes, t0 + 7 * 55 * US + 1)  # t = 7, b = 5 -> i = 1
    assert r.rt == pytest.approx(rt + p.rate_hai_bps)
    rt = r.rt
    r.on_sent(p.byte_counter_bytes, t0 + 7 * 55 * US + 2)  # t = 7, b = 6 -> i = 2
    assert r.rt == pytest.approx(rt + 2 * p.rate_hai_bps)


def test_rates_stay_within_min_and_line():
    p = DcqcnParams(min_rate_bps=1e8)
    r = DcqcnRate(LINE, p)
    for k in range(200):
        r.on_cnp(k * US)
    assert r.rc == p.min_rate_bps and r.min_seen_bps == p.min_rate_bps
    r.advance(10**10)  # ten seconds of quiet: back to line rate, never above
    assert r.rc == r.rt == LINE


def test_one_big_step_equals_many_small_ones():
    a, b = DcqcnRate(LINE), DcqcnRate(LINE)
    for r in (a, b):
        r.on_cnp(0)
        r.on_cnp(5 * US)
    a.advance(3_000_000 * US)
    for t in range(5 * US, 3_000_000 * US + 1, 7 * US):
        b.advance(t)
    b.advance(3_000_000 * US)
    assert a.rc == pytest.approx(b.rc) and a.alpha == pytest.approx(b.alpha)
    assert a.timer_events == b.timer_events


def test_dilated_parameters_and_cnp_pacing():
    d = DcqcnParams().dilated(100)
    assert d.increase_timer_ns == 5_500_000 and d.rate_ai_bps == pytest.approx(0.4e6)
    assert d.cnp_interval_ns == 5_000_000 and d.byte_counter_bytes == 10_000_000
    pacer = CnpPacer(50 * US)
    sent = [t for t in range(0, 200 * US, US) if pacer.should_send(1, t)]
    assert sent == [0, 50 * US, 100 * US, 150 * US]  # one per 50 us for a marked QP
    assert pacer.should_send(2, 10 * US)  # QPs are paced independently
    with pytest.raises(FabricTwinError):
        DcqcnParams(g=0)


# -- go-back-N and pacing ---------------------------------------------------------------------
def run_link(n: int, window: int, loss: float, ack_loss: float, seed: int,
             delay_ns: int = 2_000) -> tuple[GoBackNSender, GoBackNReceiver, list[int]]:
    """Sender and receiver over a link with random loss both ways; a frame per 100 ns."""
    rng = random.Random(seed)
    snd, rcv = GoBackNSender(n, window, rto_ns=20_000), GoBackNReceiver(n, ack_every=4)
    data: deque[tuple[int, int, bool]] = deque()
    acks: deque[tuple[int, object]] = deque()
    accepted: list[int] = []
    now = 0
    while not snd.done:
        assert now < 10**10, "no progress"
        if snd.can_send():
            i = snd.take(now)
            if rng.random() >= loss:
                data.append((now + delay_ns, i, snd.wants_ack(i, 8)))
        while data and data[0][0] <= now:
            _, i, ackreq = data.popleft()
            verdict, reply = rcv.on_packet(i, ackreq)
            if verdict == ACCEPT:
                accepted.append(i)
            if reply is not None and rng.random() >= ack_loss:
                acks.append((now + delay_ns, reply))
        while acks and acks[0][0] <= now:
            _, reply = acks.popleft()
            (snd.on_nak if reply.nak else snd.on_ack)(reply.index, now)
        snd.check_timeout(now)
        now += 100
    return snd, rcv, accepted


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 300), window=st.integers(1, 64), loss=st.floats(0, 0.3),
       ack_loss=st.floats(0, 0.3), seed=st.integers(0, 2**32 - 1))
def test_go_back_n_delivers_everything_once_in_order(n, window, loss, ack_loss, seed):
    snd, rcv, accepted = run_link(n, window, loss, ack_loss, seed)
    assert accepted == list(range(n))
    assert rcv.done and snd.una == n
    if loss == 0 and ack_loss == 0:
        assert snd.retransmits == snd.timeouts == rcv.out_of_order == 0


def test_one_loss_is_repaired_by_one_nak_without_timeout():
    snd, rcv = GoBackNSender(40, 16, rto_ns=10**9), GoBackNReceiver(40, ack_every=4)
    replies = []
    for _ in range(16):
        i = snd.take(0)
        if i != 5:  # packet 5 is lost once
            replies.append(rcv.on_packet(i)[1])
    naks = [r for r in replies if r is not None and r.nak]
    assert len(naks) == 1 and naks[0].index == 5  # one NAK per gap, naming the hole
    for r in replies:
        if r is not None:
            (snd.on_nak if r.nak else snd.on_ack)(r.index, 1)
    assert snd.una == 5 and snd.nxt == 5  # cumulative ACK up to the hole, then go back
    while not snd.done:
        i = snd.take(2)
        r = rcv.on_packet(i, i == 39)[1]
        if r is not None:
            snd.on_ack(r.index, 3)
    assert snd.retransmits == 11 and snd.timeouts == 0 and rcv.out_of_order == 10


def test_lost_final_ack_is_recovered_by_timeout():
    snd, rcv = GoBackNSender(3, 8, rto_ns=1000), GoBackNReceiver(3)
    for _ in range(3):
        rcv.on_packet(snd.take(0), False)  # every ACK is lost
    assert rcv.done and not snd.done
    assert not snd.check_timeout(999) and snd.check_timeout(1000)
    verdict, reply = rcv.on_packet(snd.take(1000), False)
    assert verdict == "duplicate" and reply.index == 2  # the duplicate is re-acknowledged
    snd.on_ack(reply.index, 1001)
    assert snd.done and snd.timeouts == 1 and snd.rto == 1000  # progress resets the backoff


def test_timeout_backs_off_exponentially():
    snd = GoBackNSender(10, 10, rto_ns=100, max_rto_ns=400)
    snd.take(0)
    times = []
    now = 0
    while len(times) < 4:
        now += 1
        if snd.check_timeout(now):
            times.append(now)
            snd.take(now)
    assert times == [100, 300, 700, 1100]


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(1e6, 1e10), burst=st.integers(1500, 100_000),
       frame=st.integers(64, 9000))
def test_token_bucket_never_exceeds_rate_plus_burst(rate, burst, frame):
    tb = TokenBucket(rate, burst)
    sent, now = 0, 0.0
    horizon = 2e6 * 8 * frame / rate * 50  # ~50 frames' worth of time and more
    while now < horizon:
        if tb.ready(now):
            tb.consume(frame)
            sent += frame
        now += max(tb.wait_ns(now), 1.0)
    assert sent <= rate * now / 8e9 + burst + frame
    assert sent >= rate * now / 8e9 - frame  # and it does not idle below the rate


def test_rate_steps_scale_with_the_line_rate() -> None:
    p = DcqcnParams().for_line_rate(400e9)
    assert p.rate_ai_bps == pytest.approx(400e6) and p.rate_hai_bps == pytest.approx(4e9)
    assert p.min_rate_bps == pytest.approx(100e6)
    assert p.cnp_interval_ns == DcqcnParams().cnp_interval_ns  # times unchanged
    with pytest.raises(FabricTwinError):
        DcqcnParams().for_line_rate(0)


def test_the_timeout_follows_measured_round_trips_not_resent_packets():
    snd = GoBackNSender(64, 64, rto_ns=1_000, max_rto_ns=10**9)
    for t in range(8):
        snd.take(t)
    snd.on_ack(3, 50_003)  # packet 3, sent at 3, queued behind others: a 50 us round trip
    assert snd.srtt == 50_000 and snd.rto == 50_000 + 4 * 25_000
    rto = snd.rto
    later = 50_003 + rto
    assert snd.check_timeout(later)  # a real loss: go back, everything in flight resent
    for _ in range(4):
        snd.take(later)
    snd.on_ack(7, later + 1)  # answers the first or the second sending? Karn: no sample
    assert snd.srtt == 50_000
    assert snd.rto == snd.base_rto == rto  # progress undoes the back-off, not the estimate


def test_the_timeout_never_drops_below_its_floor():
    snd = GoBackNSender(8, 8, rto_ns=10_000)
    snd.take(0)
    snd.on_ack(0, 10)  # a 10 ns round trip
    assert snd.rto == 10_000
