"""Two endpoint agents in network namespaces joined by a veth pair (root)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from fabrictwin.linux.names import check_name
from tests.helpers.agents import A, B, pair_configs
from tests.helpers.cli import ROOT

US = 1000
G = 1 / 256
LINE = 40e9




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
