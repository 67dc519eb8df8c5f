"""A send's endpoint costs: it waits its delay once ready, then moves no faster than its rate."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.protocols.roce import WRITE_OPCODES
from fabrictwin.traffic.agent.core import Agent
from fabrictwin.traffic.config import config_json, parse_config
from fabrictwin.traffic.planes import Plane, stripe
from tests.helpers.agents import A, B, FakeSock

BTH = 14 + 20 + 8
MS = 1_000_000


def sender(**send) -> tuple[Agent, FakeSock]:
    cfg = {"rank": 0, "ip": A["ip"], "mac": A["mac"], "peers": {"1": B | {"interface": "ftta0"}},
           "sends": [{"id": 1, "dst": 1, "size_bytes": 1 << 20, **send}], "recvs": []}
    agent = Agent(parse_config(cfg))
    sock = FakeSock()
    agent.attach({"ftta0": sock})
    return agent, sock


def data_bytes(sock: FakeSock) -> int:
    return sum(len(f) for f in sock.out if f[12:14] == b"\x08\x00" and f[BTH] in WRITE_OPCODES)


def test_a_send_waits_its_delay_before_the_first_frame():
    agent, sock = sender(delay_ns=5 * MS)
    agent.begin(0)
    agent.turn(4 * MS)
    assert data_bytes(sock) == 0
    assert agent.wake_ns(4 * MS) == 5 * MS  # the loop sleeps until then, not spinning
    agent.turn(5 * MS)
    assert data_bytes(sock) > 0
    (row,) = agent.result(True)["sends"]
    assert row["ready_ns"] == 0 and row["start_ns"] == 5 * MS  # the wait counts as the step's


def test_a_send_moves_no_faster_than_its_endpoint_rate():
    agent, sock = sender(rate_bps=8e8)  # 100 MB/s: 1 ms moves 100 kB (within the window)
    agent.begin(0)
    now = 0
    while now < MS:
        agent.turn(now)
        now += 10_000
    sent = data_bytes(sock)
    assert 50e3 < sent <= 100e3 + 2 * 16384  # the bucket's burst on top at most


def test_the_charges_survive_the_json_round_trip_and_bad_values_are_refused():
    agent, _ = sender(delay_ns=7.5, rate_bps=1e9)
    back = config_json(agent.cfg)["sends"][0]
    assert back["delay_ns"] == 7.5 and back["rate_bps"] == 1e9
    for bad in ({"delay_ns": -1}, {"delay_ns": float("inf")}, {"rate_bps": 0},
                {"delay_ns": True}):
        with pytest.raises(FabricTwinError, match="sends\\[0\\]"):
            sender(**bad)


def test_striped_parts_share_the_transfer_rate_and_keep_its_delay():
    views = {0: {"sends": [{"id": 1, "dst": 1, "size_bytes": 1 << 20, "deps": [],
                            "delay_ns": 3.0, "rate_bps": 100.0}], "recvs": []},
             1: {"sends": [], "recvs": [{"id": 1, "src": 0, "size_bytes": 1 << 20}]}}

    def planes_of(src, dst):
        return [Plane(f"a{i}", f"b{i}", 1.0) for i in range(4)] if src == 0 else []

    parts = stripe(views, planes_of)[0]["sends"]
    assert len(parts) == 4
    assert all(p["delay_ns"] == 3.0 for p in parts)
    assert sum(p["rate_bps"] for p in parts) == pytest.approx(100.0)
