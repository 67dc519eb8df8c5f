"""The endpoint agent: DCQCN against the paper's equations, go-back-N over a fake lossy link,
two agents over fake sockets (no root), and two agents in network namespaces (root)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.emulation.plan import plan_emulation
from fabrictwin.fabric.emulation.system import check_name
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.agent import Agent
from fabrictwin.traffic.config import agent_configs, parse_config
from fabrictwin.traffic.dcqcn import CnpPacer, DcqcnParams, DcqcnRate
from fabrictwin.traffic.fastpath import first_psn
from fabrictwin.traffic.reliability import (
    ACCEPT,
    GoBackNReceiver,
    GoBackNSender,
    TokenBucket,
)
from fabrictwin.traffic.schedules import ring_all_reduce
from tests.conftest import ROOT

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


# -- two agents over fake sockets --------------------------------------------------------------
class FakeSock:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def send(self, buf: bytes) -> int:
        self.out.append(bytes(buf))
        return len(buf)


A = {"ip": "10.0.0.1", "mac": "02:00:00:00:00:01", "interface": "ftta0"}
B = {"ip": "10.0.0.2", "mac": "02:00:00:00:00:02", "interface": "fttb0"}


def pair_configs(size: int, back: int, **opts) -> tuple[dict, dict]:
    a = {"rank": 0, "ip": A["ip"], "mac": A["mac"], "peers": {"1": B | {"interface": "ftta0"}},
         "sends": [{"id": 1, "dst": 1, "size_bytes": size}],
         "recvs": [{"id": 2, "src": 1, "size_bytes": back}], **opts}
    b = {"rank": 1, "ip": B["ip"], "mac": B["mac"], "peers": {"0": A | {"interface": "fttb0"}},
         "sends": [{"id": 2, "dst": 0, "size_bytes": back, "deps": [1]}],
         "recvs": [{"id": 1, "src": 0, "size_bytes": size}], **opts}
    return a, b


def simulate(cfg_a: dict, cfg_b: dict, link=lambda frame, rng: frame, seed: int = 0,
             step_ns: int = 5 * US, limit_s: float = 20.0) -> tuple[dict, dict]:
    """Two agents in simulated time; ``link`` may drop (None) or alter frames in flight."""
    rng = random.Random(seed)
    agents = [Agent(parse_config(cfg_a)), Agent(parse_config(cfg_b))]
    socks = [FakeSock(), FakeSock()]
    agents[0].attach({"ftta0": socks[0]})
    agents[1].attach({"fttb0": socks[1]})
    now = 0
    for a in agents:
        a.begin(now)
    while not all(a.finished for a in agents):
        assert now < limit_s * 1e9, "no progress"
        for a in agents:
            a.turn(now)
        for other, sock in ((1, socks[0]), (0, socks[1])):  # frames arrive half a step later
            frames, sock.out = sock.out, []
            for f in frames:
                f = link(f, rng)
                if f is not None:
                    agents[other].handle(memoryview(f), now + step_ns // 2)
        now += step_ns
    for a in agents:
        a.end_ns = now
    return agents[0].result(True), agents[1].result(True)


def test_agents_transfer_and_chain_on_their_own_receives():
    ra, rb = simulate(*pair_configs(300_000, 50_000))
    assert ra["ok"] and rb["ok"]
    assert rb["recvs"][0]["bytes_received"] == 300_000 and rb["recvs"][0]["data_ok"]
    assert ra["recvs"][0]["data_ok"] and ra["bytes_received"] == 50_000
    assert rb["psn_errors"] == ra["retransmits"] == rb["retransmits"] == 0
    # B's send waited for B's receive, with no one else telling it
    assert rb["sends"][0]["ready_ns"] == rb["recvs"][0]["finish_ns"] > 0
    assert rb["sends"][0]["start_ns"] >= rb["sends"][0]["ready_ns"]


def test_psn_wraps_around_mid_transfer():
    tid = next(t for t in range(10**6) if first_psn(t) > 2**24 - 1500)  # wraps after < 1500
    a, b = pair_configs(2000 * 1024, 1024)
    a["sends"][0]["id"] = b["recvs"][0]["id"] = b["sends"][0]["deps"][0] = tid
    ra, rb = simulate(a, b, link=lambda f, rng: None if rng.random() < 0.01 else f)
    got = rb["recvs"][0]
    assert got["data_ok"] and got["bytes_received"] == 2000 * 1024 and ra["retransmits"] > 0


def test_agents_recover_from_random_loss_and_corruption():
    def lossy(frame: bytes, rng: random.Random) -> bytes | None:
        x = rng.random()
        if x < 0.03:
            return None
        if x < 0.05:  # a flipped bit in the payload: the ICRC must catch it
            b = bytearray(frame)
            b[len(b) // 2] ^= 0x10
            return bytes(b)
        return frame

    ra, rb = simulate(*pair_configs(200_000, 20_000, rto_ms=0.5), link=lossy, seed=3)
    assert ra["ok"] and rb["ok"] and rb["recvs"][0]["data_ok"]
    assert ra["retransmits"] > 0 and rb["icrc_errors"] + ra["icrc_errors"] > 0
    assert rb["naks_sent"] > 0 and ra["naks_received"] > 0


def test_drop_injection_only_hits_first_transmissions():
    ra, rb = simulate(*pair_configs(100 * 1024, 1024, drop_every_n=10))
    assert rb["injected_drops"] == 10 and ra["retransmits"] >= 10
    assert ra["ok"] and rb["ok"]


def test_ce_marks_bring_cnps_and_dcqcn_rate_cuts():
    def mark(frame: bytes, _rng: random.Random) -> bytes:
        if frame[42] in (6, 7, 8, 10):  # data frames: set ECN to CE, as a switch would
            b = bytearray(frame)
            b[15] |= 3
            return bytes(b)
        return frame

    opts = {"dcqcn": True, "line_rate_bps": 1e9, "rate_bps": 1e9}
    ra, rb = simulate(*pair_configs(1 << 20, 4096, **opts), link=mark, step_ns=2 * US)
    assert ra["ok"] and rb["ok"]
    got, sent = rb["recvs"][0], ra["sends"][0]
    assert ra["retransmits"] == 0 and got["ecn_marked"] == (1 << 20) // 1024  # all marked
    cnps = got["cnps_sent"]
    elapsed_us = (got["finish_ns"] - got["start_ns"]) / US
    assert 0 < cnps <= elapsed_us / 50 + 1  # the notification point paces CNPs per QP
    assert sent["cnps_received"] == cnps
    d = sent["dcqcn"]
    assert d["rate_cuts"] == cnps and d["min_rate_bps"] < 1e9 / 2


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "unknown key colour"),
    ({"mac": "02:00:00:00:00"}, "mac: not a MAC"),
    ({"ip": "10.0.0.300"}, "ip: not an IPv4"),
    ({"pmtu": 1000}, "pmtu 1000"),
    ({"window": 0}, "window: expected an integer >= 1"),
    ({"dcqcn": {"g": 2}}, "g must be in"),
    ({"dcqcn": {"gain": 1}}, "unknown key gain"),
    ({"sends": [{"id": 1, "dst": 5, "size_bytes": 1}]}, "rank 5 is not in peers"),
    ({"sends": [{"id": 1, "dst": 1, "size_bytes": 1, "deps": [9]}]}, "waits for 9"),
    ({"peers": {"1": B | {"interface": "a-very-long-name0"}}}, "too long interface name"),
    ({"peers": {"1": B | {"interface": "eth0;reboot"}}}, "unsafe"),
])
def test_bad_config_is_one_clear_line(change, message):
    cfg = pair_configs(10, 10)[0] | change
    with pytest.raises(FabricTwinError, match=message) as e:
        parse_config(cfg)
    assert "\n" not in str(e.value)


def test_agent_configs_from_an_emulation_plan():
    plan = plan_emulation(build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2"), 100)
    hosts = [h.name for h in plan.hosts]
    schedule = ring_all_reduce(4, 1 << 20)
    cfgs = agent_configs(plan, schedule, hosts, pmtu=1024, result="/tmp/r{rank}.json")
    by_name = {h.name: h for h in plan.hosts}
    for rank, cfg in cfgs.items():
        me = by_name[hosts[rank]]
        assert (cfg["ip"], cfg["mac"], cfg["result"]) == (me.ip, me.mac, f"/tmp/r{rank}.json")
        routes = {ip: (mac, intf) for ip, mac, intf in me.routes}
        for peer, p in cfg["peers"].items():
            assert routes[p["ip"]] == (p["mac"], p["interface"])
            assert p["ip"] == by_name[hosts[int(peer)]].ip
        assert len(cfg["sends"]) == len(cfg["recvs"]) == 6
        parse_config(json.loads(json.dumps(cfg)))  # round-trips through JSON
    with pytest.raises(FabricTwinError, match="only 2 hosts"):
        agent_configs(plan, schedule, hosts[:2])


def test_cli_rejects_bad_config_with_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(pair_configs(10, 10)[0] | {"window": -1}))
    proc = subprocess.run([sys.executable, "-m", "fabrictwin.traffic.agent", "--config",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "agent: error: config: window: expected an integer >= 1, got -1"]


# -- two agents in network namespaces (root) ---------------------------------------------------
NS_A, NS_B = "ftt-a", "ftt-b"
LINKS = ("ftta0", "fttb0", "fttab", "fttbb", "fttbr")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def teardown_pair() -> None:
    for ns in (NS_A, NS_B):
        ip("netns", "del", check_name(ns), check=False)
    for link in LINKS:
        ip("link", "del", check_name(link), check=False)


def make_pair(shallow_queue: bool) -> None:
    """ftt-a and ftt-b joined by a veth pair, or through a bridge whose port towards B
    is an HTB class with a 5-frame FIFO (real drops under a burst, no netem needed)."""
    teardown_pair()
    a_if, b_if = (check_name(x) for x in ("ftta0", "fttb0"))
    for ns in (NS_A, NS_B):
        ip("netns", "add", check_name(ns))
    if shallow_queue:
        br, ab, bb = (check_name(x) for x in ("fttbr", "fttab", "fttbb"))
        ip("link", "add", br, "type", "bridge")
        ip("link", "add", a_if, "type", "veth", "peer", "name", ab)
        ip("link", "add", b_if, "type", "veth", "peer", "name", bb)
        for port in (ab, bb):
            ip("link", "set", port, "master", br, "up")
        ip("link", "set", br, "up")
        subprocess.run(["tc", "qdisc", "add", "dev", bb, "root", "handle", "1:", "htb",
                        "default", "1"], check=True)
        subprocess.run(["tc", "class", "add", "dev", bb, "parent", "1:", "classid", "1:1",
                        "htb", "rate", "100mbit", "ceil", "100mbit", "quantum", "1514"],
                       check=True)
        subprocess.run(["tc", "qdisc", "add", "dev", bb, "parent", "1:1", "pfifo", "limit",
                        "5"], check=True)
    else:
        ip("link", "add", a_if, "type", "veth", "peer", "name", b_if)
    ip("link", "set", a_if, "netns", NS_A)
    ip("link", "set", b_if, "netns", NS_B)
    for ns, intf, end in ((NS_A, a_if, A), (NS_B, b_if, B)):
        ip("-n", ns, "link", "set", intf, "address", end["mac"], "up")
        ip("-n", ns, "addr", "add", end["ip"] + "/24", "dev", intf)


@pytest.fixture
def netns_pair(request):
    try:
        make_pair(getattr(request, "param", False))
        yield
    finally:
        teardown_pair()


def run_agents(tmp_path, cfg_a: dict, cfg_b: dict, timeout_s: float = 60) -> tuple[dict, dict]:
    start = time.monotonic_ns() + 2_000_000_000  # both have their sockets open by then
    procs, outs = [], []
    for ns, cfg in ((NS_B, cfg_b), (NS_A, cfg_a)):
        path, out = tmp_path / f"{ns}.json", tmp_path / f"{ns}.result.json"
        path.write_text(json.dumps(cfg | {"start_at_ns": start, "timeout_s": timeout_s,
                                          "result": str(out)}))
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                                       "fabrictwin.traffic.agent", "--config", str(path)],
                                      cwd=ROOT, stderr=subprocess.PIPE, text=True))
        outs.append(out)
    try:
        for p in procs:
            p.wait(timeout=timeout_s + 30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errors = [p.stderr.read() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    rb, ra = (json.loads(o.read_text()) for o in outs)
    return ra, rb


MIB4 = 4 << 20


@pytest.mark.parametrize("netns_pair", [False], indirect=True)
@pytest.mark.usefixtures("netns_pair")
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_4mib_write_arrives_whole_and_in_order(tmp_path):
    ra, rb = run_agents(tmp_path, *pair_configs(MIB4, 65536))
    got = rb["recvs"][0]
    assert got["done"] and got["bytes_received"] == MIB4 and got["data_ok"]
    assert got["psn_errors"] == got["duplicates"] == 0  # every PSN arrived in order, once
    assert rb["icrc_errors"] == rb["malformed"] == 0
    assert ra["sends"][0]["frames_sent"] == MIB4 // 1024 and ra["retransmits"] == 0
    assert rb["sends"][0]["ready_ns"] >= got["finish_ns"]  # B answered after its receive
    assert ra["recvs"][0]["data_ok"]


@pytest.mark.parametrize("netns_pair", [False], indirect=True)
@pytest.mark.usefixtures("netns_pair")
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_injected_drops_are_retransmitted(tmp_path):
    ra, rb = run_agents(tmp_path, *pair_configs(MIB4, 4096, drop_every_n=5, rto_ms=2))
    got = rb["recvs"][0]
    assert rb["injected_drops"] == MIB4 // 1024 // 5
    assert got["data_ok"] and got["bytes_received"] == MIB4
    assert ra["retransmits"] >= rb["injected_drops"] and rb["naks_sent"] > 0


@pytest.mark.parametrize("netns_pair", [True], indirect=True)
@pytest.mark.usefixtures("netns_pair")
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_real_drops_in_a_shallow_queue_are_recovered(tmp_path):
    size = 1 << 20
    ra, rb = run_agents(tmp_path, *pair_configs(size, 4096, rate_bps=400e6, window=64,
                                                rto_ms=2))
    stats = subprocess.run(["tc", "-s", "qdisc", "show", "dev", "fttbb"], capture_output=True,
                           text=True, check=True).stdout
    dropped = sum(int(x) for x in re.findall(r"dropped (\d+)", stats))
    assert dropped > 0  # the 5-frame FIFO overflowed: frames were really lost
    got = rb["recvs"][0]
    assert got["data_ok"] and got["bytes_received"] == size
    assert ra["retransmits"] > 0 and rb["psn_errors"] > 0
