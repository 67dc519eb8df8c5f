"""The endpoint agent obeys PFC (simulated time, fake sockets, no root); its socket filter
lets PFC frames in; it samples its transfers' progress."""

from __future__ import annotations

import socket
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from fabrictwin.protocols.pfc import (
    ETH_P_MAC_CONTROL,
    MAX_QUANTA,
    PFC_DST_MAC,
    noop_frame,
    pause_frame,
    quanta_to_ns,
)
from fabrictwin.protocols.roce import ROCE_UDP_PORT, WRITE_OPCODES, ack_frame, cnp_frame
from fabrictwin.traffic.agent.core import TX_BATCH, Agent
from fabrictwin.traffic.config import parse_config
from fabrictwin.traffic.fastpath import _ROCE_FILTER
from tests.helpers.agents import A, B, FakeSock
from tests.helpers.bpf import run_bpf

US = 1000
SWITCH_MAC = "02:00:00:00:00:fe"  # the switch port that sends PFC frames to A
BTH = 14 + 20 + 8  # offset of the BTH in a RoCEv2 frame


def is_data(frame: bytes) -> bool:
    return frame[12:14] == b"\x08\x00" and frame[BTH] in WRITE_OPCODES


def sender(size: int = 1 << 20, **opts) -> tuple[Agent, FakeSock]:
    """Agent A with one send to B, attached to a fake socket; nobody answers."""
    cfg = {"rank": 0, "ip": A["ip"], "mac": A["mac"], "peers": {"1": B | {"interface": "ftta0"}},
           "sends": [{"id": 1, "dst": 1, "size_bytes": size}], "recvs": [], **opts}
    agent = Agent(parse_config(cfg))
    sock = FakeSock()
    agent.attach({"ftta0": sock})
    return agent, sock


def pfc(quanta: dict[int, int]) -> memoryview:
    return memoryview(pause_frame(SWITCH_MAC, quanta))


def data_sent(agent: Agent, sock: FakeSock, now: int) -> int:
    """One turn at ``now``; the data frames it put on the wire."""
    sock.out.clear()
    agent.turn(now)
    return sum(is_data(f) for f in sock.out)


def global_pause(quanta: int = MAX_QUANTA) -> bytes:
    """An 802.3x PAUSE frame (MAC Control opcode 0x0001), padded to 60 bytes."""
    return bytes(Ether(dst=PFC_DST_MAC, src=SWITCH_MAC, type=ETH_P_MAC_CONTROL)
                 / Raw(struct.pack("!HH", 0x0001, quanta) + bytes(42)))


# -- obeying PAUSE ---------------------------------------------------------------------------
@pytest.mark.parametrize("line_rate, q", [(1e9, 100), (1e9, MAX_QUANTA), (10e6, 3)])
def test_pause_holds_data_for_its_quanta_then_sends(line_rate, q):
    agent, sock = sender(line_rate_bps=line_rate)
    agent.begin(0)
    now = 1000
    agent.handle(pfc({3: q}), now)
    end = now + quanta_to_ns(q, line_rate)
    assert end == now + q * 512 * 1e9 / line_rate
    step = max(1, int(end - now) // 50)
    for t in [now, *range(now, int(end), step), int(end) - 1]:
        assert agent.turn(t) == 0
    assert sock.out == []
    assert data_sent(agent, sock, int(end)) == TX_BATCH
    assert data_sent(agent, sock, int(end) + 1) == TX_BATCH
    r = agent.result(True)
    assert (r["pfc_pauses"], r["pfc_resumes"]) == (1, 0)


def test_resume_sends_at_once():
    agent, sock = sender()
    agent.begin(0)
    agent.handle(pfc({3: MAX_QUANTA}), 1000)  # 33.5 ms at 1 Gb/s
    assert data_sent(agent, sock, 2000) == 0
    assert data_sent(agent, sock, 3 * 10**6) == 0
    agent.handle(pfc({3: 0}), 3 * 10**6 + 5)
    assert data_sent(agent, sock, 3 * 10**6 + 5) == TX_BATCH
    r = agent.result(True)
    assert (r["pfc_pauses"], r["pfc_resumes"]) == (1, 1)
    assert r["pfc_paused_ns"] == 3 * 10**6 + 5 - 1000


@pytest.mark.parametrize("frame", [
    pause_frame(SWITCH_MAC, {5: MAX_QUANTA}),                       # another priority
    pause_frame(SWITCH_MAC, {0: MAX_QUANTA, 7: MAX_QUANTA}),
    noop_frame(SWITCH_MAC),                                          # empty vector
    global_pause(),                                                  # 802.3x, not PFC
])
def test_frames_not_for_our_priority_are_ignored(frame):
    agent, sock = sender()
    agent.begin(0)
    agent.handle(memoryview(frame), 0)
    assert data_sent(agent, sock, 10) == TX_BATCH
    r = agent.result(True)
    assert r["pfc_pauses"] == r["pfc_resumes"] == r["pfc_paused_ns"] == 0
    assert agent.paused_until == 0


def test_configured_priority_is_the_one_obeyed():
    agent, sock = sender(pfc_priority=5)
    agent.begin(0)
    agent.handle(pfc({3: MAX_QUANTA}), 0)
    assert data_sent(agent, sock, 10) == TX_BATCH
    agent.handle(pfc({3: 0, 5: 1000}), 20)
    assert data_sent(agent, sock, 30) == 0
    assert agent.result(True)["pfc_pauses"] == 1


def test_pause_counters():
    agent, sock = sender(line_rate_bps=1e9)  # 100 quanta: 51.2 us
    agent.begin(0)
    p = quanta_to_ns(100, 1e9)
    assert p == 51_200
    agent.handle(pfc({3: 100}), 0)                  # runs out: 51200
    agent.handle(pfc({3: 100}), 100_000)            # resumed after 20000
    agent.handle(pfc({3: 0}), 120_000)
    agent.handle(pfc({3: 100}), 200_000)            # refreshed half-way: 30000 + 51200
    agent.handle(pfc({3: 100}), 230_000)
    agent.handle(pfc({3: 0}), 400_000)              # a resume after the end adds nothing
    agent.handle(pfc({5: 100}), 500_000)            # another priority: not counted
    agent.end_ns = 10**6
    r = agent.result(True)
    assert r["pfc_pauses"] == 4 and r["pfc_resumes"] == 2
    assert r["pfc_paused_ns"] == 51_200 + 20_000 + 30_000 + 51_200


def test_pause_running_at_the_end_counts_up_to_the_end():
    agent, _sock = sender()
    agent.begin(0)
    agent.handle(pfc({3: MAX_QUANTA}), 1000)
    agent.end_ns = 11_000
    assert agent.result(True)["pfc_paused_ns"] == 10_000


@pytest.mark.parametrize("rate_bps", [None, 2e8])
def test_wake_while_paused_is_not_before_the_pause_end(rate_bps):
    opts = {} if rate_bps is None else {"rate_bps": rate_bps}
    agent, sock = sender(line_rate_bps=1e9, **opts)
    agent.begin(0)
    assert agent.wake_ns(0) == 0  # ready to send now
    agent.handle(pfc({3: 1000}), 100)
    end = 100 + quanta_to_ns(1000, 1e9)
    wake = agent.wake_ns(200)
    assert wake is not None and wake >= end
    assert data_sent(agent, sock, wake) > 0  # and it can send then


def test_wake_while_paused_with_a_fractional_pause_end():
    agent, sock = sender(line_rate_bps=3e9)  # 1 quantum: 170.67 ns
    agent.begin(0)
    agent.handle(pfc({3: 1}), 0)
    wake = agent.wake_ns(0)
    assert wake >= agent.paused_until
    assert data_sent(agent, sock, wake) > 0


def pause_pair(q: int, size: int = 400_000, period: int = 100 * US, step: int = 2 * US):
    """A sends ``size`` bytes to B over fake links; a 'switch' pauses A for ``q`` quanta
    every ``period`` (q = 0: never). Returns both results, the pauses sent, the turns in a
    pause and the data frames A sent in them."""
    a_cfg = {"rank": 0, "ip": A["ip"], "mac": A["mac"],
             "peers": {"1": B | {"interface": "ftta0"}},
             "sends": [{"id": 1, "dst": 1, "size_bytes": size}], "recvs": [],
             "line_rate_bps": 1e9, "rate_bps": 1e9, "burst_bytes": 2048}
    b_cfg = {"rank": 1, "ip": B["ip"], "mac": B["mac"],
             "peers": {"0": A | {"interface": "fttb0"}},
             "sends": [], "recvs": [{"id": 1, "src": 0, "size_bytes": size}]}
    agents = [Agent(parse_config(a_cfg)), Agent(parse_config(b_cfg))]
    socks = [FakeSock(), FakeSock()]
    agents[0].attach({"ftta0": socks[0]})
    agents[1].attach({"fttb0": socks[1]})
    pause_ns = quanta_to_ns(q, 1e9)
    now = 0
    for ag in agents:
        ag.begin(now)
    paused_turns = sent_while_paused = pauses = 0
    while not all(ag.finished for ag in agents):
        assert now < 2e9, "no progress"
        if q and now % period == 0:
            agents[0].handle(pfc({3: q}), now)
            pauses += 1
        paused = now < now - now % period + pause_ns
        for ag in agents:
            ag.turn(now)
        frames, socks[0].out = socks[0].out, []
        if paused:
            paused_turns += 1
            sent_while_paused += sum(is_data(f) for f in frames)
        for f in frames:
            agents[1].handle(memoryview(f), now + step // 2)
        frames, socks[1].out = socks[1].out, []
        for f in frames:
            agents[0].handle(memoryview(f), now + step // 2)
        now += step
    for ag in agents:
        ag.end_ns = now
    return agents[0].result(True), agents[1].result(True), pauses, paused_turns, \
        sent_while_paused


def test_transfer_completes_through_pauses_without_sending_while_paused():
    q = 78  # 39.936 us at 1 Gb/s, every 100 us
    ra, rb, pauses, paused_turns, sent_while_paused = pause_pair(q)
    assert paused_turns > 0 and sent_while_paused == 0
    assert rb["ok"] and rb["recvs"][0]["data_ok"] and rb["bytes_received"] == 400_000
    assert ra["retransmits"] == 0
    assert ra["pfc_pauses"] == pauses > 10 and ra["pfc_resumes"] == 0
    # every pause ran out (none was cut short): 39936 ns each, the last one maybe cut
    # by the end of the run
    assert (pauses - 1) * quanta_to_ns(q, 1e9) <= ra["pfc_paused_ns"] \
        <= pauses * quanta_to_ns(q, 1e9)
    assert rb["pfc_pauses"] == 0
    # paused 40% of the time: slower than the same transfer unpaused (the token bucket
    # refills during a pause, up to burst_bytes, so part of it is caught up)
    base, _, none, _, _ = pause_pair(0)
    assert none == base["pfc_pauses"] == base["pfc_paused_ns"] == 0

    def took(r):
        return r["sends"][0]["finish_ns"] - r["sends"][0]["start_ns"]

    assert took(ra) > 1.2 * took(base)  # 60% of the time plus a 2 kB burst: ~1.3x


# -- the agent's socket filter -------------------------------------------------------------
def roce_frames() -> list[bytes]:
    agent, sock = sender()
    agent.begin(0)
    agent.turn(0)
    ends = {"src_mac": B["mac"], "dst_mac": A["mac"], "src_ip": B["ip"], "dst_ip": A["ip"],
            "sport": 0xC001, "dqpn": 0x101}
    return [sock.out[0], bytes(ack_frame(psn=5, **ends)), bytes(cnp_frame(**ends))]


def other_frames() -> dict[str, bytes]:
    eth = Ether(dst=A["mac"], src=B["mac"])
    ip = IP(src=B["ip"], dst=A["ip"])
    return {
        "global pause": global_pause(),
        "arp": bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=B["mac"])
                     / ARP(psrc=B["ip"], pdst=A["ip"])),
        "udp to another port": bytes(eth / ip / UDP(sport=1234, dport=4792) / Raw(bytes(40))),
        "udp from 4791": bytes(eth / ip / UDP(sport=ROCE_UDP_PORT, dport=53) / Raw(bytes(40))),
        "tcp to 4791": bytes(eth / ip / TCP(sport=1234, dport=ROCE_UDP_PORT)),
        "ipv6 udp to 4791": bytes(eth / IPv6() / UDP(dport=ROCE_UDP_PORT) / Raw(bytes(40))),
        "runt": bytes(13),
    }


def test_filter_accepts_roce_and_pfc():
    assert all(len(insn) == 4 for insn in _ROCE_FILTER)
    for frame in roce_frames():
        assert run_bpf(_ROCE_FILTER, frame) == 0xFFFF
    for quanta in ({3: 100}, {3: 0}, {0: 1, 7: MAX_QUANTA}, {}):
        assert run_bpf(_ROCE_FILTER, pause_frame(SWITCH_MAC, quanta)) == 0xFFFF


@pytest.mark.parametrize("name", list(other_frames()))
def test_filter_drops_everything_else(name):
    assert run_bpf(_ROCE_FILTER, other_frames()[name]) == 0


def test_filter_jumps_stay_in_the_program():
    for pc, (code, jt, jf, _k) in enumerate(_ROCE_FILTER):
        if code == 0x15:
            assert pc + 1 + max(jt, jf) < len(_ROCE_FILTER)
    assert _ROCE_FILTER[-1] == (0x06, 0, 0, 0)


# -- samples ---------------------------------------------------------------------------------
def test_samples_rows_in_simulated_time():
    agent, sock = sender(size=200_000, rate_bps=1e9, sample_ms=0.1)
    assert agent.cfg.sample_ms == 0.1
    agent.begin(0)
    agent.sample(0)  # not started yet: no row
    assert agent.samples == []
    every = int(agent.cfg.sample_ms * 1e6)
    for now in range(0, 1_000 * US, 5 * US):
        if now % every == 0 and now:
            agent.sample(now)
        agent.turn(now)
        sock.out.clear()
    rows = agent.result(True)["samples"]
    assert len(rows) == 9
    assert [r[0] for r in rows] == [every * k for k in range(1, 10)]
    assert {r[1] for r in rows} == {1}
    assert all(r[3] == 1e9 for r in rows)  # the paced rate
    sent = [r[2] for r in rows]
    assert sent == sorted(sent) and 0 < sent[0] < sent[-1]
    assert sent[-1] <= agent.result(True)["wire_bytes_sent"]


def test_samples_from_run_follow_sample_ms():
    """The real loop (monotonic clock, a socketpair for a port): rows every sample_ms."""
    for sample_ms, expect_rows in ((10.0, True), (0.0, False)):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            a.setblocking(False)
            agent, _ = sender(sample_ms=sample_ms, timeout_s=0.3, rate_bps=1e8)
            agent.attach({"ftta0": a})
            assert agent.run() is False  # nobody acknowledges: times out
            rows = agent.result(False)["samples"]
        finally:
            a.close()
            b.close()
        if not expect_rows:
            assert rows == []
            continue
        assert 3 <= len(rows) <= 31  # one a 10 ms at most, over 0.3 s
        times = [r[0] for r in rows]
        assert all(t2 - t1 >= 10e6 for t1, t2 in zip(times, times[1:], strict=False))
        assert all(r[1] == 1 and r[3] == 1e8 for r in rows)
        assert [r[2] for r in rows] == sorted(r[2] for r in rows)


def test_a_pause_stops_only_the_nic_it_arrived_on():
    # A reaches B through one NIC and C through another (as a GPU with a port per plane)
    c = {"ip": "10.0.0.3", "mac": "02:00:00:00:00:03"}
    cfg = {"rank": 0, "ip": A["ip"], "mac": A["mac"],
           "peers": {"1": B | {"interface": "ftta0"}, "2": c | {"interface": "ftta1"}},
           "sends": [{"id": 1, "dst": 1, "size_bytes": 1 << 20},
                     {"id": 2, "dst": 2, "size_bytes": 1 << 20}], "recvs": []}
    agent = Agent(parse_config(cfg))
    socks = {"ftta0": FakeSock(), "ftta1": FakeSock()}
    agent.attach(socks)
    agent.begin(0)
    agent.handle(pfc({3: MAX_QUANTA}), 1000, "ftta1")
    agent.turn(2000)
    assert sum(map(is_data, socks["ftta0"].out)) == TX_BATCH  # B's NIC goes on
    assert not socks["ftta1"].out                               # C's NIC holds
    agent.handle(pfc({3: 0}), 3000, "ftta1")
    agent.turn(4000)
    assert sum(map(is_data, socks["ftta1"].out)) == TX_BATCH
    agent.end_ns = 5000
    r = agent.result(True)
    assert (r["pfc_pauses"], r["pfc_resumes"], r["pfc_paused_ns"]) == (1, 1, 2000)
    assert list(r["pfc_by_interface"]) == ["ftta1"]
