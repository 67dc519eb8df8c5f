"""The controller driving a real Open vSwitch bridge (root): what OVS accepts and does.

One userspace (netdev) bridge stands in for switch p0e0 of fat_tree,k=4 (DPID 1):
ports 1-2 face its hosts, 3-4 its two aggregation switches, each a veth whose far end
the test sends into or takes down. No namespaces, no Mininet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabrictwin.controllers.process import ControllerProcess, start_controller
from fabrictwin.controllers.tables import EGRESS_BASE, LOSSLESS_BASE
from fabrictwin.linux.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


def _ovs_usable() -> bool:
    if os.geteuid() != 0 or not shutil.which("ovs-vsctl"):
        return False
    return subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True,
                          timeout=10).returncode == 0


pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(not _ovs_usable(), reason="needs root and a running OVS")]


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture
def bridge() -> Iterator[tuple[str, dict[int, str]]]:
    """Bridge ``ftcbNNNNN`` with ports 1-4; yields it and port -> far veth end."""
    tag = f"{os.getpid() % 100000}"
    br = f"ftcb{tag}"
    far = {p: f"ftc{tag}q{p}" for p in range(1, 5)}
    try:
        args = ["ovs-vsctl", "--timeout=30", "--", "add-br", br, "--", "set", "bridge", br,
                "datapath_type=netdev", "fail-mode=secure",
                "protocols=OpenFlow13,OpenFlow14,OpenFlow15",
                "other-config:datapath-id=0000000000000001", "other-config:disable-in-band=true"]
        for p, q in far.items():
            near = f"ftc{tag}p{p}"
            sh("ip", "link", "add", near, "type", "veth", "peer", "name", q)
            sh("ip", "link", "set", near, "up")
            sh("ip", "link", "set", q, "up")
            args += ["--", "add-port", br, near, "--", "set", "interface", near,
                     f"ofport_request={p}"]
        sh(*args)
        yield br, far
    finally:
        subprocess.run(["ovs-vsctl", "--timeout=30", "--if-exists", "del-br", br],
                       capture_output=True, timeout=60)
        for p in far:
            subprocess.run(["ip", "link", "del", f"ftc{tag}p{p}"], capture_output=True)


def connect(br: str, ctl: ControllerProcess) -> None:
    sh("ovs-vsctl", "set-controller", br, ctl.address)
    ctl.wait_switches(1, timeout_s=20)


def group_stats(br: str, gid: int) -> list[int]:
    out = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-group-stats", br)
    line = next(x for x in out.splitlines() if f"group_id={gid}," in x)
    return [int(n) for n in re.findall(r"bucket\d+:packet_count=(\d+)", line)]


def send_udp(iface: str, dst_mac: str, flows: int, tos: int) -> None:
    """One frame per flow, flows told apart by UDP source port only (RoCEv2 style)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    frames = [bytes(Ether(src="02:00:00:00:00:01", dst=dst_mac)
                    / IP(src="10.0.0.1", dst="10.0.0.5", tos=tos)
                    / UDP(sport=10000 + i, dport=4791) / (b"x" * 20)) for i in range(flows)]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((iface, 0))
        for f in frames:
            s.send(f)
            time.sleep(0.0005)  # the userspace switch upcalls each new flow


def wait_for(ctl: ControllerProcess, kind: str, after: int, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [d for d in ctl.decisions()[after:] if d["kind"] == kind]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {kind} decision in {timeout_s} s")


def test_ovs_accepts_everything_and_ecmp_hashes_udp_ports(bridge, tmp_path):
    br, far = bridge
    with start_controller("fat_tree,k=4", free_port(), log=tmp_path / "c.jsonl") as ctl:
        connect(br, ctl)
        ready = [d for d in ctl.decisions() if d["kind"] == "switch_ready"][0]
        assert ready["openflow"] == "1.5"
        groups = sh("ovs-ofctl", "-O", "OpenFlow15", "dump-groups", br)
        assert "selection_method=hash" in groups and "udp_src" in groups
        flows = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", br).splitlines()[1:]
        assert len(flows) == 8 + 17 + 17  # classifier + miss, two routing tables of 16 + miss
        remote = "02:00:00:00:00:05"  # a host in another pod: ECMP over ports 3 and 4
        before = group_stats(br, 1)
        send_udp(far[1], remote, 200, tos=0)
        time.sleep(0.5)
        spread = [a - b for a, b in zip(group_stats(br, 1), before, strict=True)]
        assert sum(spread) == 200 and min(spread) >= 50, spread
        assert not [d for d in ctl.decisions() if d["kind"] == "of_error"]

        # a link down: the uplink group shrinks to the live port, timed to the barrier
        n = len(ctl.decisions())
        sh("ip", "link", "set", far[3], "down")
        done = wait_for(ctl, "reroute_installed", n)
        assert done["since_event_s"] < 1.0
        assert "output:3" not in next(x for x in sh("ovs-ofctl", "-O", "OpenFlow13",
                                                     "dump-groups", br).splitlines()
                                      if "group_id=1," in x)
        n = len(ctl.decisions())
        sh("ip", "link", "set", far[3], "up")
        wait_for(ctl, "reroute_installed", n)
        assert len(group_stats(br, 1)) == 2


def test_ecn_marks_the_configured_share_of_lossless_flows(bridge, tmp_path, monkeypatch):
    br, far = bridge
    queues = tmp_path / "q.json"
    queues.write_text("{}")
    policy = tmp_path / "p.yaml"
    policy.write_text("ecn: {profile: hpcc, pmax: 0.4}\ntelemetry_interval_s: 50ms\n")
    monkeypatch.setenv("FABRICTWIN_TEST_QUEUES", str(queues))
    monkeypatch.chdir(ROOT)  # so the subprocess imports tests.helpers.controller_queue_file
    with start_controller("fat_tree,k=4", free_port(), log=tmp_path / "c.jsonl", policy=policy,
                          queue_source="tests.helpers.controller_queue_file:factory") as ctl:
        connect(br, ctl)
        # 800 Gb/s ports: HPCC's 100 KB/400 KB at 25 Gb/s scale to 3.2 MB/12.8 MB;
        # 8 MB is half way, so 20 % of flows are marked
        n = len(ctl.decisions())
        queues.write_text(json.dumps({"p0e0-eth3": 8_000_000, "p0e0-eth4": 8_000_000}))
        ecn = wait_for(ctl, "ecn", n)
        assert ecn["permille"] == 200
        time.sleep(0.3)
        before = {p: group_stats(br, EGRESS_BASE + p) for p in (3, 4)}
        send_udp(far[1], "02:00:00:00:00:05", 1000, tos=26 << 2 | 1)  # DSCP 26, ECT(1)
        time.sleep(0.5)
        marked = total = 0
        for p in (3, 4):
            delta = [a - b for a, b in zip(group_stats(br, EGRESS_BASE + p), before[p],
                                           strict=True)]
            marked, total = marked + delta[0], total + sum(delta)
        assert total == 1000
        assert 0.15 < marked / total < 0.25, marked / total
        lossless = group_stats(br, LOSSLESS_BASE + 1)
        assert min(lossless) > 300, lossless  # and the paths were still spread
