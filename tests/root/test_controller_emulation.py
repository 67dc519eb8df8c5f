"""The controller driving a real emulation (root): ECMP spread, reroute, restart, ECN.

All on ``fat_tree,k=4`` at dilation 20000: 800 Gb/s links become 40 Mb/s and their
49 ns latency 0.98 ms, under the emulator's 1 ms floor, so no delay line runs and
the machine's two cores go to the switches and the traffic.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from fabrictwin.fabric import ovs
from fabrictwin.fabric.state import ALIAS_PREFIX, RUN_ROOT
from fabrictwin.linux.commands import root_links
from fabrictwin.topologies.registry import build_topology

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]

SPEC = "fat_tree,k=4"
DILATION = 20000.0  # 40 Mb/s links
G = build_topology(SPEC)


# -- bring-up ------------------------------------------------------------------------------
def leftovers() -> tuple[list[str], list[str]]:
    return ovs.our_bridges(), [n for n, a in root_links().items() if a.startswith(ALIAS_PREFIX)]


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    ovs.ensure_ovs()
    assert leftovers() == ([], [])
    yield
    assert leftovers() == ([], [])
    assert not (RUN_ROOT / f"ft{os.getpid()}").exists()


@contextmanager
def controlled(policy: str | None = None) -> Iterator[tuple[Any, Any]]:
    """``SPEC`` up under the controller (with ``policy`` YAML text), all pairs reachable."""
    from fabrictwin.runs.session import bring_up, prepare

    caps, _cal, plan = prepare(G, DILATION)
    with ExitStack() as stack:
        policy_path = None
        if policy is not None:
            policy_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "p.yaml"
            policy_path.write_text(policy)
        emu, ctl = stack.enter_context(bring_up(G, plan, caps, policy=policy_path))
        reach = emu.reachability(2.0)
        assert reach.ok, reach.failed[:5]
        yield emu, ctl


# -- helpers -------------------------------------------------------------------------------
def host_ip(emu: Any, name: str) -> str:
    return next(h.ip for h in emu.plan.hosts if h.name == name)


def port_of(a: str, b: str) -> int:
    return int(G.edges[a, b]["ports"][a])


def tx_packets(switch: str) -> dict[int, int]:
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-ports", switch],
                         capture_output=True, text=True, check=True).stdout
    return {int(p): int(tx) for p, tx in
            re.findall(r"port\s+(\d+): rx pkts=\d+.*?tx pkts=(\d+)", out, re.S)}


def uplinks(pod: int) -> list[tuple[str, int]]:
    """(switch, port) of every upward link of ``pod``: edge to agg, agg to core."""
    ups = []
    for s in (f"p{pod}e0", f"p{pod}e1", f"p{pod}a0", f"p{pod}a1"):
        role_up = "agg" if "e" in s[2:] else "core"
        ups += [(s, port_of(s, n)) for n in G[s] if G.nodes[n]["role"] == role_up]
    return ups


def counters(ports: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    by_switch = {s: tx_packets(s) for s in {s for s, _ in ports}}
    return {(s, p): by_switch[s][p] for s, p in ports}


@contextmanager
def iperf_servers(emu: Any, where: list[tuple[str, int]]) -> Iterator[None]:
    """One-shot iperf3 servers (host, port), ended on leaving."""
    procs = [emu.net.nameToNode[h].popen(["iperf3", "-s", "-1", "-p", str(p)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for h, p in where]
    try:
        time.sleep(0.5)
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ping_replies(out: str) -> dict[int, float]:
    """icmp_seq -> reply time (unix s) from ``ping -D`` output."""
    return {int(seq): float(t) for t, seq in
            re.findall(r"^\[([0-9.]+)\] \d+ bytes from .*?icmp_seq=(\d+)", out, re.M)}


def start_ping(emu: Any, src: str, dst: str, count: int,
               interval_s: float = 0.01) -> subprocess.Popen[str]:
    return emu.net.nameToNode[src].popen(
        ["ping", "-D", "-n", "-i", str(interval_s), "-W", "1", "-c", str(count),
         host_ip(emu, dst)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen[str], timeout_s: float = 60) -> str:
    out, _ = proc.communicate(timeout=timeout_s)
    return out


def decisions(ctl: Any, kind: str) -> list[dict]:
    return [d for d in ctl.decisions() if d["kind"] == kind]


# -- (a) ECMP ------------------------------------------------------------------------------
def test_ecmp_spreads_udp_flows_over_every_uplink_and_core() -> None:
    """64 UDP flows (distinct source ports) from pod 0 to pods 1-3 use all 8 uplinks."""
    pairs = [("p0e0h0", "p1e0h0"), ("p0e0h1", "p2e0h0"), ("p0e1h0", "p3e0h0"),
             ("p0e1h1", "p1e1h1")]
    with controlled() as (emu, ctl):
        assert {d["openflow"] for d in decisions(ctl, "switch_ready")} == {"1.5"}
        ups = uplinks(0)
        with iperf_servers(emu, [(dst, 5201) for _, dst in pairs]):
            before = counters(ups)
            outs = emu.run_in_hosts({src: f"iperf3 -c {host_ip(emu, dst)} -u -b 500K -l 1000 "
                                     "-P 16 -t 4 2>&1; echo rc=$?" for src, dst in pairs})
            after = counters(ups)
        assert all("rc=0" in o for o in outs.values()), outs
        delta = {f"{s}:{p}": after[(s, p)] - before[(s, p)] for s, p in ups}
        print(f"\nECMP tx packets per pod-0 uplink over 4 s: {delta}")
        # 64 flows x ~250 pkt/s x 4 s = 64000 packets over 4 edge and 4 agg uplinks
        assert all(n > 2000 for n in delta.values()), delta
        edge = [n for k, n in delta.items() if "e" in k.split(":")[0][2:]]
        assert max(edge) < 3 * min(edge), delta


# -- (b) reroute ---------------------------------------------------------------------------
def test_port_down_reroutes_a_running_ping() -> None:
    src, dst = "p0e0h0", "p1e0h0"
    with controlled() as (emu, ctl):
        core_ports = [(a, port_of(a, c)) for a in ("p0a0", "p0a1") for c in G[a]
                      if G.nodes[c]["role"] == "core"]
        before = counters(core_ports)
        emu.net.nameToNode[src].cmd(f"ping -n -q -i 0.01 -c 200 {host_ip(emu, dst)}")
        after = counters(core_ports)
        agg, port = max(core_ports, key=lambda k: after[k] - before[k])
        assert after[(agg, port)] - before[(agg, port)] >= 190  # the ping's upward path
        intf = f"{agg}-eth{port}"
        ping = start_ping(emu, src, dst, count=600)  # 6 s
        try:
            time.sleep(2.0)
            t_down = time.time()
            subprocess.run(["ip", "link", "set", "dev", intf, "down"], check=True)
        finally:
            out = finish(ping)
        replies = ping_replies(out)
        lost = sorted(set(range(1, 601)) - set(replies))
        after_down = sorted(s for s, t in replies.items() if t > t_down)
        assert after_down, out[-500:]
        restored = min((replies[s] for s in after_down if not lost or s > lost[-1]),
                       default=None)
        assert restored is not None and all(s in replies for s in range(500, 601)), out[-500:]
        outage = max(0.0, restored - t_down) if lost else 0.0
        installed = [d for d in decisions(ctl, "reroute_installed") if d["t"] >= t_down - 1]
        print(f"\nreroute: {intf} down, {len(lost)} of 600 pings lost, reachability "
              f"restored {outage * 1000:.0f} ms after link-down; controller installed the "
              f"reroute {installed[0]['since_event_s'] * 1000 if installed else -1:.1f} ms "
              "after the port-status")
        assert outage < 3.0
        assert installed
        reach = emu.reachability(2.0)
        assert reach.ok, reach.failed[:5]


# -- (c) controller restart ----------------------------------------------------------------
def controller_pid_from_state(log_path: Path) -> int:
    """The controller of this run: from its state.json pids, by its command line."""
    import json

    state = json.loads((RUN_ROOT / f"ft{os.getpid()}" / "state.json").read_text())
    for pid in state["pids"]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "fabrictwin.controllers" in cmd and str(log_path) in cmd:
            return int(pid)
    raise AssertionError(f"no controller among {state['pids']}")


def test_controller_restart_keeps_forwarding() -> None:
    from fabrictwin.controllers.process import start_controller

    src, dst = "p0e0h0", "p3e1h1"
    with controlled() as (emu, ctl):
        pid = controller_pid_from_state(ctl.log_path)
        assert pid == ctl.proc.pid
        ping = start_ping(emu, src, dst, count=400)  # 4 s
        try:
            time.sleep(1.0)
            t_kill = time.time()
            os.kill(pid, signal.SIGKILL)
            ctl.proc.wait(timeout=10)
        finally:
            out = finish(ping)
        replies = ping_replies(out)
        dead = [s for s, t in replies.items() if t > t_kill]
        lost = 400 - len(replies)
        print(f"\nrestart: controller killed; {len(dead)} replies with it dead, "
              f"{lost} of 400 lost")
        assert lost == 0 and len(dead) > 250, out[-500:]
        reach = emu.reachability(2.0)
        assert reach.ok, reach.failed[:5]
        # and again with a new controller on the same address: full reinstall
        ping = start_ping(emu, src, dst, count=1500)  # 15 s: OVS backs off up to 8 s
        new_log = ctl.log_path.with_name("controller2.jsonl")
        try:
            with start_controller(SPEC, ctl.port, log=new_log, dilation=DILATION) as ctl2:
                ctl2.wait_switches(len(emu.plan.switches), timeout_s=60)
                reach = emu.reachability(2.0)
                out = finish(ping)
        finally:
            if ping.poll() is None:
                ping.kill()
                ping.wait()
        lost = 1500 - len(ping_replies(out))
        print(f"restart: new controller reinstalled {len(emu.plan.switches)} switches, "
              f"{lost} of 1500 pings lost across the reinstall")
        assert reach.ok, reach.failed[:5]
        assert lost <= 50


# -- (d) ECN under incast ------------------------------------------------------------------
#: RED steep enough that a standing queue marks every flow. The default (DCQCN at
#: 40 Gb/s, scaled to the 800 Gb/s links: Kmin 100 KB, Kmax 4 MB, Pmax 1 %) marks at
#: most ~0.4 % of flows below the 1000-packet queue the emulated port has: with four
#: flows it would rarely mark any.
STEEP = """\
ecn:
  kmin_bytes: 5KB
  kmax_bytes: 50KB
  pmax: 1.0
  reference_rate_bps: 800G
"""


def ce_frames(emu: Any, receiver: str, senders: list[str], rate: str) -> tuple[int, int]:
    """(CE-marked, all) lossless-class UDP frames seen by ``receiver`` while ``senders``
    each send at ``rate`` with DSCP 26 + ECT(0)."""
    rx = next(h for h in emu.plan.hosts if h.name == receiver)
    ports = {s: 5201 + i for i, s in enumerate(senders)}
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "rx.pcap"
        with iperf_servers(emu, [(receiver, p) for p in ports.values()]):
            cap = emu.net.nameToNode[receiver].popen(
                ["tcpdump", "-Z", "root", "-ni", rx.intfs[0], "-s", "64", "-w", str(pcap),
                 "udp and ip[1] & 0xfc = 0x68"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(1.0)
                emu.run_in_hosts({s: f"iperf3 -c {rx.ip} -p {p} -u -S 0x6a -b {rate} "
                                  "-l 1400 -t 4 >/dev/null 2>&1" for s, p in ports.items()})
                time.sleep(1.0)
            finally:
                cap.send_signal(signal.SIGINT)
                cap.wait(timeout=10)

        def count(expr: str) -> int:
            out = subprocess.run(["tcpdump", "-nr", str(pcap), expr], capture_output=True,
                                 text=True).stdout
            return len(out.splitlines())

        return count("ip[1] & 3 = 3"), count("udp")


def test_ecn_marks_under_incast_and_not_without() -> None:
    receiver = "p0e0h0"
    senders = ["p1e0h0", "p1e1h1", "p2e0h1", "p3e1h0"]
    with controlled(STEEP) as (emu, ctl):
        base_ce, base_all = ce_frames(emu, receiver, senders[:1], "20M")
        inc_ce, inc_all = ce_frames(emu, receiver, senders, "20M")
        ecn = decisions(ctl, "ecn")
    print(f"\nECN: 1 sender at half the link rate: {base_ce} CE of {base_all} frames; "
          f"4:1 incast at 2x the link rate: {inc_ce} CE of {inc_all} frames; "
          f"{len(ecn)} ecn decisions")
    # Without congestion almost nothing is marked: a stall of this 2-core machine can
    # queue a few ms behind the userspace switch (once 175 of 7142 frames, usually 0)
    assert base_all > 1000 and base_ce < 0.05 * base_all
    assert inc_all > 1000 and inc_ce > 0.2 * inc_all and inc_ce > 10 * base_ce
