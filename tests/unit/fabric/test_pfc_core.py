"""The fabric's PFC state machine, driven with numbers: ingress shares, XOFF/refresh/XON,
obeying pauses, the watchdog, validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.core import (
    FabricPfc,
    Gate,
    PortSpec,
    SendPause,
    Watchdog,
    WatchdogEvent,
)
from fabrictwin.protocols.pfc import MAX_QUANTA, quanta_to_ns
from tests.helpers.pfc import MS, POLL, RATE, XOFF, XON

REFRESH = quanta_to_ns(MAX_QUANTA, RATE) / 2  # half the pause time: 1.677696 s at 10 Mb/s


def port(intf: str, switch: str = "s", peer: str = "h", *, rate: float = RATE,
         xoff: int = XOFF, xon: int = XON) -> PortSpec:
    return PortSpec(intf, switch, peer, peer.startswith("h"), rate, xoff, xon)


def three_ports(**kw) -> FabricPfc:
    """One switch ``s`` with ports p1..p3 towards hosts h1..h3."""
    return FabricPfc([port(f"p{i}", peer=f"h{i}") for i in (1, 2, 3)], **kw)


def back_to_back(**kw) -> FabricPfc:
    """Switches a (a1, a2 to hosts, a3 to b) and b (b1, b2 to hosts, b3 to a)."""
    return FabricPfc([port("a1", "a", "h1"), port("a2", "a", "h2"), port("a3", "a", "b"),
                      port("b1", "b", "h3"), port("b2", "b", "h4"), port("b3", "b", "a")], **kw)


def shares(pfc: FabricPfc, switch: str | None = None) -> dict[str, float]:
    return {i: s.share_bytes for i, s in pfc.ports.items()
            if switch is None or s.spec.switch == switch}


def pauses(actions) -> list[SendPause]:
    return [a for a in actions if isinstance(a, SendPause)]


def gates(actions) -> list[Gate]:
    return [a for a in actions if isinstance(a, Gate)]


def counters(pfc: FabricPfc, intf: str) -> dict[str, int]:
    return pfc.ports[intf].counters


# -- ingress share accounting --------------------------------------------------------------------
def test_shares_split_in_proportion_to_arrivals_and_sum_to_the_backlog():
    pfc = three_ports()
    # the backlog sits in egress queues; which egress port holds it does not matter
    assert pfc.tick(0, {"p3": 3000}, {"p1": 4000, "p2": 2000}) == []
    assert shares(pfc) == pytest.approx({"p1": 2000, "p2": 1000, "p3": 0})
    pfc.tick(POLL, {"p1": 1000, "p2": 2000, "p3": 3000}, {"p1": 1000, "p2": 2000, "p3": 3000})
    # pool 2000 + 1000 + 1000 + 2000 + 3000 = 9000 holds 6000 now: each keeps 2/3
    assert shares(pfc) == pytest.approx({"p1": 2000, "p2": 2000, "p3": 2000})
    assert sum(shares(pfc).values()) == pytest.approx(6000)


def test_a_port_that_stops_receiving_sees_its_share_shrink_as_the_buffer_drains():
    pfc = three_ports()
    pfc.tick(0, {"p3": 8000}, {"p1": 8000})
    assert shares(pfc)["p1"] == pytest.approx(8000)
    before = 8000.0
    for k in range(1, 8):
        backlog = 8000 - 1000 * k  # drains 1000 B a poll, p2 keeps sending 500 B a poll
        pfc.tick(k * POLL, {"p3": backlog}, {"p2": 500})
        s = shares(pfc)
        assert s["p1"] < before
        assert s["p1"] + s["p2"] + s["p3"] == pytest.approx(backlog)
        before = s["p1"]
    pfc.tick(8 * POLL, {}, {"p2": 500})  # empty: every share is 0
    assert shares(pfc) == {"p1": 0, "p2": 0, "p3": 0}


def test_switches_account_their_own_backlog_only():
    pfc = back_to_back()
    pfc.tick(0, {"a3": 5000, "b1": 300}, {"a1": 1000, "a2": 4000, "b3": 600, "b2": 600})
    a, b = shares(pfc, "a"), shares(pfc, "b")
    assert sum(a.values()) == pytest.approx(5000) and sum(b.values()) == pytest.approx(300)
    assert a == pytest.approx({"a1": 1000, "a2": 4000, "a3": 0})
    assert b == pytest.approx({"b1": 0, "b2": 150, "b3": 150})
    assert counters(pfc, "a2")["max_share_bytes"] == 4000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 10**6), min_size=6, max_size=6),
                          st.lists(st.integers(0, 10**6), min_size=6, max_size=6)),
                min_size=1, max_size=30))
def test_shares_invariant_for_any_polls(polls):
    """Any numbers: shares stay finite and >= 0; each switch's shares sum to its backlog
    whenever anything can hold it (a share or new arrivals), else to 0."""
    pfc = back_to_back()
    names = list(pfc.ports)
    for k, (backlog, rx) in enumerate(polls):
        before = shares(pfc)
        bl, rxd = dict(zip(names, backlog, strict=True)), dict(zip(names, rx, strict=True))
        pfc.tick(k * POLL, bl, rxd)
        for sw in ("a", "b"):
            mine = [i for i in names if i.startswith(sw)]
            got = [pfc.ports[i].share_bytes for i in mine]
            assert all(math.isfinite(x) and x >= 0 for x in got)
            held = sum(bl[i] for i in mine)
            pool = sum(before[i] + rxd[i] for i in mine)
            assert sum(got) == pytest.approx(held if pool > 0 else 0, rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
                          st.floats(0, 1)),
                min_size=1, max_size=30))
def test_shares_sum_to_the_backlog_when_arrivals_explain_it(polls):
    """Physical inputs (the backlog never exceeds what was held plus what arrived):
    the shares always sum to the measured backlog."""
    pfc = three_ports()
    held = 0
    for k, (rx, keep) in enumerate(polls):
        held = int((held + sum(rx)) * keep)
        spread = {"p1": held // 2, "p2": held - held // 2}  # any egress split
        pfc.tick(k * POLL, spread, dict(zip(("p1", "p2", "p3"), rx, strict=True)))
        s = shares(pfc)
        assert all(x >= 0 for x in s.values())
        assert sum(s.values()) == pytest.approx(held, rel=1e-9, abs=1e-6)


# -- XOFF, refresh, XON ---------------------------------------------------------------------------
def test_xoff_once_refresh_at_half_the_pause_time_then_xon():
    pfc = three_ports()
    t0 = 5 * MS
    assert pfc.tick(t0, {"p3": 12_000}, {"p1": 12_000}) == [SendPause("p1", MAX_QUANTA)]
    assert pfc.pausing() == ["p1"]
    t = t0
    while t + POLL < t0 + REFRESH:  # share stays at 12000 (no arrivals, same backlog)
        t += POLL
        assert pfc.tick(t, {"p3": 12_000}, {}) == []
    refresh_at = t0 + REFRESH
    assert pfc.tick(math.ceil(refresh_at), {"p3": 12_000}, {}) == [SendPause("p1", MAX_QUANTA)]
    # between XON and XOFF: still pausing, refreshed again half a pause later
    t = math.ceil(refresh_at)
    assert pfc.tick(t + POLL, {"p3": 8_000}, {}) == []
    assert pfc.tick(math.ceil(t + REFRESH), {"p3": 8_000}, {}) == [SendPause("p1", MAX_QUANTA)]
    # below XON: resume, once
    t = math.ceil(t + REFRESH) + POLL
    assert pfc.tick(t, {"p3": 5_999}, {}) == [SendPause("p1", 0)]
    assert pfc.tick(t + POLL, {"p3": 1_000}, {}) == []
    assert pfc.tick(t + 2 * POLL, {}, {}) == []
    assert pfc.pausing() == []
    c = counters(pfc, "p1")
    assert (c["xoff_sent"], c["refresh_sent"], c["xon_sent"]) == (1, 2, 1)
    for other in ("p2", "p3"):
        assert counters(pfc, other)["xoff_sent"] == 0


def test_refresh_time_is_exact():
    pfc = three_ports()
    pfc.tick(0, {"p1": 20_000}, {"p1": 20_000})
    r = int(REFRESH)
    assert r == REFRESH == 1_677_696_000  # 65535 x 512 bit / 10 Mb/s / 2
    assert pfc.tick(r - 1, {"p1": 20_000}, {}) == []
    assert pfc.tick(r, {"p1": 20_000}, {}) == [SendPause("p1", MAX_QUANTA)]
    assert pfc.tick(2 * r - 1, {"p1": 20_000}, {}) == []
    assert pfc.tick(2 * r, {"p1": 20_000}, {}) == [SendPause("p1", MAX_QUANTA)]


def test_thresholds_are_strict_and_pausing_again_after_xon():
    pfc = three_ports()
    assert pfc.tick(0, {"p1": XOFF}, {"p2": XOFF}) == []  # at XOFF: not above it
    assert pfc.ports["p2"].share_bytes == XOFF
    assert pfc.tick(POLL, {"p1": 2 * XON}, {"p2": 2 * XON - XOFF}) == [
        SendPause("p2", MAX_QUANTA)]
    assert pfc.tick(2 * POLL, {"p1": XON}, {}) == []       # at XON: not below it
    assert pfc.ports["p2"].share_bytes == XON
    assert pfc.tick(3 * POLL, {"p1": XON - 1}, {}) == [SendPause("p2", 0)]
    assert pfc.tick(4 * POLL, {"p1": 30_000}, {"p2": 30_000 - XON + 1}) == [
        SendPause("p2", MAX_QUANTA)]
    c = counters(pfc, "p2")
    assert (c["xoff_sent"], c["refresh_sent"], c["xon_sent"]) == (2, 0, 1)


def test_two_ports_of_a_switch_pause_independently():
    pfc = back_to_back()
    out = pfc.tick(0, {"a3": 30_000}, {"a1": 11_000, "a2": 19_000})
    assert sorted(pauses(out), key=lambda p: p.intf) == [SendPause("a1", MAX_QUANTA),
                                                        SendPause("a2", MAX_QUANTA)]
    # a1 stops sending, the buffer drains: a1 falls below XON first
    out = pfc.tick(POLL, {"a3": 16_000}, {"a2": 2_000})
    assert out == [SendPause("a1", 0)]
    assert pfc.pausing() == ["a2"]


def test_measurement_only_never_pauses_or_gates():
    pfc = three_ports(enabled=False, watchdog=Watchdog(20 * MS, 50 * MS, "drop"))
    seen = []
    for k in range(200):
        now = k * POLL
        seen += pfc.on_pause("p1", MAX_QUANTA, now)
        seen += pfc.tick(now, {"p3": 50_000 + 100 * k}, {"p1": 60_000, "p2": 100})
    seen += pfc.on_pause("p2", 0, 200 * POLL)
    assert not [a for a in seen if isinstance(a, SendPause | Gate | WatchdogEvent)]
    assert seen == []
    assert pfc.gated() == [] and pfc.pausing() == [] and pfc.events == []
    c1, c2 = counters(pfc, "p1"), counters(pfc, "p2")
    assert (c1["pause_rx"], c1["ignored_rx"], c1["xoff_sent"], c1["paused_ns"]) == (200, 200, 0, 0)
    assert (c2["resume_rx"], c2["ignored_rx"]) == (1, 1)
    assert c1["max_share_bytes"] > XOFF  # the shares are still measured
    assert sum(shares(pfc).values()) == pytest.approx(50_000 + 100 * 199)


# -- obeying pauses ----------------------------------------------------------------------------
def test_pause_closes_the_gate_once_and_resume_opens_it():
    pfc = three_ports()
    assert pfc.on_pause("p1", 100, 1000) == [Gate("p1", open=False)]
    assert pfc.gated() == ["p1"]
    assert pfc.on_pause("p1", 100, 2000) == []          # already closed
    assert pfc.on_pause("p1", MAX_QUANTA, 3000) == []
    assert pfc.on_pause("p1", 0, 7000) == [Gate("p1", open=True)]
    assert pfc.gated() == []
    assert pfc.on_pause("p1", 0, 8000) == []             # already open
    assert pfc.tick(9000, {}, {}) == []
    c = counters(pfc, "p1")
    assert (c["pause_rx"], c["resume_rx"], c["ignored_rx"], c["paused_ns"]) == (3, 2, 0, 6000)


def test_pause_expires_after_its_quanta_at_the_port_rate():
    pfc = FabricPfc([port("p1", rate=RATE), port("p2", rate=40e9)])
    q = 100
    t0 = 1_000
    expiry = t0 + q * 512 / RATE * 1e9          # 5.12 ms at 10 Mb/s
    assert expiry == pytest.approx(t0 + quanta_to_ns(q, RATE)) and round(expiry) == 5_121_000
    expiry = round(expiry)
    assert pfc.on_pause("p1", q, t0) == [Gate("p1", open=False)]
    assert pfc.on_pause("p2", q, t0) == [Gate("p2", open=False)]  # 1.28 us at 40 Gb/s
    assert pfc.tick(t0 + 1280, {}, {}) == [Gate("p2", open=True)]
    assert pfc.tick(expiry - 1, {}, {}) == []
    assert pfc.tick(expiry, {}, {}) == [Gate("p1", open=True)]
    assert pfc.tick(expiry + POLL, {}, {}) == []
    assert counters(pfc, "p1")["paused_ns"] == 5_120_000
    assert counters(pfc, "p2")["paused_ns"] == 1280


def test_a_repeated_pause_extends_the_gate():
    pfc = three_ports()
    q_ns = quanta_to_ns(100, RATE)
    pfc.on_pause("p1", 100, 0)
    pfc.on_pause("p1", 100, 3 * MS)
    assert pfc.tick(int(q_ns), {}, {}) == []                # the first pause's end
    assert pfc.tick(int(3 * MS + q_ns), {}, {}) == [Gate("p1", open=True)]
    assert counters(pfc, "p1")["paused_ns"] == int(3 * MS + q_ns)


def test_pause_for_unknown_port_or_other_priority_is_nothing():
    pfc = three_ports()
    assert pfc.on_pause("nope", 100, 0) == []
    assert pfc.on_pause("p1", None, 0) == []
    assert all(v == 0 for v in counters(pfc, "p1").values())


def test_finish_counts_a_pause_still_running():
    pfc = three_ports()
    pfc.on_pause("p2", MAX_QUANTA, 1000)
    pfc.finish(51_000)
    assert counters(pfc, "p2")["paused_ns"] == 50_000
    assert pfc.on_pause("p2", 0, 61_000) == [Gate("p2", open=True)]
    assert counters(pfc, "p2")["paused_ns"] == 60_000  # not counted twice


# -- watchdog ----------------------------------------------------------------------------------
DETECT, RESTORE = 50 * MS, 100 * MS


def storm(pfc: FabricPfc, intf: str, start: int, end: int) -> list:
    """The downstream keeps refreshing its pause on ``intf`` every poll in [start, end)."""
    out = []
    for now in range(start, end, POLL):
        out += pfc.on_pause(intf, MAX_QUANTA, now)
        out += pfc.tick(now, {}, {})
    return out


def test_watchdog_drop_triggers_ignores_pauses_and_restores_twice():
    pfc = three_ports(watchdog=Watchdog(DETECT, RESTORE, "drop"))
    start = 7 * MS
    out = storm(pfc, "p1", start, start + DETECT)  # not yet: paused for DETECT - POLL
    assert out == [Gate("p1", open=False)]
    t1 = start + DETECT
    out = pfc.on_pause("p1", MAX_QUANTA, t1) + pfc.tick(t1, {}, {})
    assert out == [WatchdogEvent("p1", t1, start, "drop", "triggered"),
                   Gate("p1", open=True), Gate("p1", open=True, drop=True)]
    assert pfc.gated() == [] and counters(pfc, "p1")["watchdog"] == 1
    assert counters(pfc, "p1")["paused_ns"] == DETECT
    # the storm goes on: ignored while the watchdog holds the port
    ignored_before = counters(pfc, "p1")["ignored_rx"]
    out = storm(pfc, "p1", t1 + POLL, t1 + RESTORE)
    assert out == []
    assert counters(pfc, "p1")["ignored_rx"] - ignored_before == RESTORE // POLL - 1
    assert pfc.on_pause("p1", 0, t1 + RESTORE - 1) == []   # resumes are ignored too
    t2 = t1 + RESTORE
    assert pfc.tick(t2, {}, {}) == [WatchdogEvent("p1", t2, 0, "drop", "restored"),
                                    Gate("p1", open=True, drop=False)]
    # honoured again; a second storm triggers again
    out = storm(pfc, "p1", t2 + POLL, t2 + POLL + DETECT + POLL)
    t3 = t2 + POLL + DETECT
    assert out == [Gate("p1", open=False),
                   WatchdogEvent("p1", t3, t2 + POLL, "drop", "triggered"),
                   Gate("p1", open=True), Gate("p1", open=True, drop=True)]
    assert counters(pfc, "p1")["watchdog"] == 2
    assert [(e.kind, e.t_ns) for e in pfc.events] == [("triggered", t1), ("restored", t2),
                                                      ("triggered", t3)]
    assert counters(pfc, "p2")["watchdog"] == 0


def test_watchdog_forward_has_no_drop_gate():
    pfc = three_ports(watchdog=Watchdog(DETECT, RESTORE, "forward"))
    out = storm(pfc, "p2", 0, DETECT + POLL)
    assert out == [Gate("p2", open=False),
                   WatchdogEvent("p2", DETECT, 0, "forward", "triggered"),
                   Gate("p2", open=True)]
    assert storm(pfc, "p2", DETECT + POLL, DETECT + RESTORE) == []  # ignored
    assert counters(pfc, "p2")["ignored_rx"] == RESTORE // POLL - 1
    out = pfc.tick(DETECT + RESTORE, {}, {})
    assert out == [WatchdogEvent("p2", DETECT + RESTORE, 0, "forward", "restored")]
    # honoured again from the restoration on
    assert pfc.on_pause("p2", MAX_QUANTA, DETECT + RESTORE) == [Gate("p2", open=False)]
    assert counters(pfc, "p2")["watchdog"] == 1


def test_watchdog_leaves_short_pauses_alone():
    pfc = three_ports(watchdog=Watchdog(DETECT, RESTORE))
    q = 2000  # 102.4 ms at 10 Mb/s, but resumed after 40 ms, again and again
    out = []
    for k in range(10):
        t = k * 60 * MS
        out += pfc.on_pause("p1", q, t)
        out += pfc.tick(t + 20 * MS, {}, {}) + pfc.tick(t + 40 * MS, {}, {})
        out += pfc.on_pause("p1", 0, t + 40 * MS)
    assert out == [Gate("p1", open=False), Gate("p1", open=True)] * 10
    assert pfc.events == [] and counters(pfc, "p1")["watchdog"] == 0


@pytest.mark.parametrize("detect, restore, action", [
    (0, 1, "drop"), (1, 0, "drop"), (-1, 1, "drop"), (1, -5, "forward"),
    (float("nan"), 1, "drop"), (1, 1, "pause"), (1, 1, ""),
])
def test_watchdog_validation(detect, restore, action):
    with pytest.raises(FabricTwinError, match="pfc watchdog") as e:
        Watchdog(detect, restore, action)
    assert "\n" not in str(e.value)


def test_watchdog_default_action_is_drop():
    assert Watchdog(1, 1).action == "drop"


# -- port validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("ports, message", [
    ([port("p1", xoff=100, xon=101)], "p1"),
    ([port("p1", rate=0)], "rate > 0"),
    ([port("p1", rate=-10e6)], "rate > 0"),
    ([port("p1", rate=float("nan"))], "rate > 0"),
    ([port("p1", xon=-1, xoff=10)], "XON"),
    ([port("p1"), port("p2"), port("p1", switch="t")], "listed twice"),
])
def test_bad_ports(ports, message):
    with pytest.raises(FabricTwinError, match=message) as e:
        FabricPfc(ports)
    assert "\n" not in str(e.value)


def test_xon_equal_to_xoff_is_allowed():
    pfc = FabricPfc([port("p1", xoff=1000, xon=1000)])
    assert pfc.tick(0, {"p1": 1001}, {"p1": 1001}) == [SendPause("p1", MAX_QUANTA)]
    assert pfc.tick(POLL, {"p1": 999}, {}) == [SendPause("p1", 0)]


def test_xon_zero_resumes_once_the_share_is_empty():
    pfc = FabricPfc([PortSpec("p1", "s", "h1", True, 10e6, 1000, 0),
                     PortSpec("p2", "s", "h2", True, 10e6, 1000, 0)])
    assert pfc.tick(0, {"p2": 5000}, {"p1": 5000}) == [SendPause("p1", MAX_QUANTA)]
    assert pfc.tick(POLL, {"p2": 0}, {}) == [SendPause("p1", 0)]
