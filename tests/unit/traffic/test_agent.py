"""Two endpoint agents over fake sockets (no root): transfers, loss, CE marks, configs."""

from __future__ import annotations

import errno
import json
import random
import subprocess
import sys

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.protocols.roce import RC_ACK
from fabrictwin.topologies.registry import build_topology
from fabrictwin.traffic.agent.core import Agent
from fabrictwin.traffic.collectives import ring_all_reduce
from fabrictwin.traffic.config import agent_configs, parse_config
from fabrictwin.traffic.fastpath import first_psn
from fabrictwin.traffic.qp import BTH_OFF
from tests.helpers.agents import B, FakeSock, pair_configs
from tests.helpers.cli import ROOT

US = 1000
G = 1 / 256
LINE = 40e9




# -- two agents over fake sockets --------------------------------------------------------------
class RefusingSock(FakeSock):
    """A qdisc that is full for every ACK's first try (ENOBUFS), as under a big send."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[bytes] = set()

    def send(self, buf: bytes) -> int:
        frame = bytes(buf)
        if frame[BTH_OFF] == RC_ACK and frame not in self.refused:
            self.refused.add(frame)
            raise OSError(errno.ENOBUFS, "No buffer space available")
        return super().send(buf)


def simulate(cfg_a: dict, cfg_b: dict, link=lambda frame, rng: frame, seed: int = 0,
             step_ns: int = 5 * US, limit_s: float = 20.0,
             sock_b: FakeSock | None = None) -> tuple[dict, dict]:
    """Two agents in simulated time; ``link`` may drop (None) or alter frames in flight."""
    rng = random.Random(seed)
    agents = [Agent(parse_config(cfg_a)), Agent(parse_config(cfg_b))]
    socks = [FakeSock(), sock_b or FakeSock()]
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


def test_an_ack_the_full_qdisc_refuses_is_sent_again_not_lost():
    # Every ACK is refused once: each must still reach the sender, before the receiver
    # counts itself finished, so the sender never waits for its timeout (set long here).
    sock = RefusingSock()
    ra, rb = simulate(*pair_configs(100_000, 0, rto_ms=1000, ack_every=4), sock_b=sock)
    assert ra["ok"] and rb["ok"] and rb["recvs"][0]["data_ok"]
    assert ra["timeouts"] == ra["retransmits"] == 0
    # refused replies were resent, or superseded by a newer (cumulative) one
    assert len(sock.refused) >= 1 and ra["acks_received"] >= 1


def test_a_receiver_holding_a_refused_ack_is_not_finished():
    a, b = pair_configs(10_000, 0, ack_every=1000)  # one ACK: the last frame's
    a["recvs"], b["sends"] = [], []                   # B only receives
    receiver = Agent(parse_config(b))
    sock = FakeSock()
    receiver.attach({"fttb0": sock})
    receiver.begin(0)
    sender = Agent(parse_config(a))
    out = FakeSock()
    sender.attach({"ftta0": out})
    sender.begin(0)
    sender.turn(0)
    full = True

    def send(buf: bytes) -> int:
        if full:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        return FakeSock.send(sock, buf)

    sock.send = send  # the qdisc is full until told otherwise
    for f in out.out:
        receiver.handle(memoryview(f), 1000)
    assert receiver.recv_qps and all(q.done for q in receiver.recv_qps.values())
    receiver.turn(2000)
    assert not receiver.finished and not sock.out     # all data in, but its ACK is not out
    assert receiver.wake_ns(2000) is not None         # and it will try again
    full = False
    receiver.turn(1000 + 100_000)                     # after the back-off
    assert receiver.finished and len(sock.out) == 1


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
    cfgs = agent_configs(plan.hosts, schedule, hosts, pmtu=1024, result="/tmp/r{rank}.json")
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
        agent_configs(plan.hosts, schedule, hosts[:2])


def test_cli_rejects_bad_config_with_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(pair_configs(10, 10)[0] | {"window": -1}))
    proc = subprocess.run([sys.executable, "-m", "fabrictwin.traffic.agent", "--config",
                           str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "agent: error: config: window: expected an integer >= 1, got -1"]


# -- two agents in network namespaces (root) ---------------------------------------------------


def test_a_send_whose_path_is_broken_is_given_up_after_three_fruitless_timeouts():
    cfg_a, _ = pair_configs(64_000, 0, rto_ms=1.0)
    agent = Agent(parse_config(cfg_a))
    agent.attach({"ftta0": FakeSock()})  # frames go nowhere: no ACK ever comes back
    agent.begin(0)
    now, stalled_at = 0, None
    while stalled_at is None and now < 10**9:
        agent.turn(now)
        if agent._stalled(agent.cfg.stall_timeouts):
            stalled_at = now
        now += 10 * US
    # 1 + 2 + 4 ms of backed-off timeouts, then the third expiry ends it
    assert stalled_at is not None and 7e6 <= stalled_at <= 8e6, stalled_at
    result = agent.result(False)
    assert result["stalled"] == [{"id": 1, "dst": 1, "interface": "ftta0", "timeouts": 3}]


def test_timeouts_while_paused_by_pfc_are_not_a_broken_path():
    cfg_a, _ = pair_configs(64_000, 0, rto_ms=1.0)
    agent = Agent(parse_config(cfg_a))
    agent.attach({"ftta0": FakeSock()})
    agent.begin(0)
    qp = next(iter(agent.send_qps.values()))
    agent.turn(0)  # the first window leaves, then the NIC is held paused
    now = 10 * US
    while now < 50e6:
        qp.pause.until = now + 1e6
        agent.turn(now)
        now += 10 * US
    assert qp.gbn.timeouts > 3 and qp.gbn.fruitless == 0
    assert not agent._stalled(agent.cfg.stall_timeouts)
