"""PFC, its watchdog and DCQCN in the emulated fabric, with real frames (root).

Each test brings up the leaf-spine of fabrictwin.runs.incast (10 Mb/s links at
D=40000), runs real RoCEv2 senders into one receiver and checks what the switches'
queues, the PFC daemon, the agents and the receivers' PSN checks report.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fabrictwin.fabric.pfc.core import Watchdog
from fabrictwin.runs.lossless import IncastSpec, run_incast
from fabrictwin.runs.pfc_storm import watchdog_delays

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]


def _incast(tmp_path: Path, name: str, **kw: object) -> dict:
    return run_incast(IncastSpec(**kw), tmp_path / name)


def test_incast_8_to_1_drops_without_pfc_and_none_with_it(tmp_path: Path) -> None:
    off = _incast(tmp_path, "off", pfc=False)
    assert off["lossless_drops"] > 0          # the queues overflowed...
    assert off["retransmits"] > 0 and off["psn_errors"] > 0  # ...and the receiver saw it
    assert off["pauses"] == 0 and off["host_pauses_obeyed"] == 0

    on = _incast(tmp_path, "on", pfc=True)
    # zero at every hop: tc queues, OVS ports and OVS's sockets; and at the receiver
    assert on["lossless_drops"] == 0 and on["ovs_socket_drops"] == 0
    assert on["psn_errors"] == 0 and on["naks"] == 0 and on["retransmits"] == 0
    assert on["data_ok"]
    ports = on["ports"]
    # backpressure hop by hop: receiver's leaf pauses the spine, the spine pauses the
    # sender leaves, the leaves pause their hosts, and the hosts obey
    assert ports["l0-eth6"]["xoff_sent"] > 0 and ports["s0-eth1"]["pause_rx"] > 0
    assert ports["s0-eth2"]["xoff_sent"] > 0 and ports["l1-eth6"]["pause_rx"] > 0
    assert ports["l1-eth6"]["paused_ns"] > 0
    assert on["host_pauses_obeyed"] > 0
    # the headroom held: no switch ever held more than its shared lossless buffer, which
    # without PFC the bottleneck port filled before it dropped
    assert on["max_switch_queue_bytes"] <= on["thresholds"]["buffer_bytes"]
    assert off["max_switch_queue_bytes"] > 0.9 * off["thresholds"]["buffer_bytes"]
    # pausing ports went past XOFF into their headroom (reported, not bounded here: the
    # budget assumes a 30 ms reaction, which a loaded machine may exceed)
    assert on["headroom_used"] > 0 and off["headroom_used"] is None


def test_lossless_with_dcqcn_means_no_gap_and_no_resend(tmp_path: Path) -> None:
    """The default 8:1 incast (512 KiB each) with PFC and DCQCN: the lossless class loses
    nothing anywhere (an earlier version saw 110 PSN gaps no counter explained), and the
    emulator reacts within the headroom it budgets."""
    r = _incast(tmp_path, "both", pfc=True, dcqcn=True)
    assert r["psn_errors"] == 0 and r["naks"] == 0 and r["retransmits"] == 0, r
    assert r["lossless_drops"] == 0 and r["ovs_datapath_lost"] == 0 and r["data_ok"]
    assert 0 < r["headroom_used"] <= 1.0


def test_pause_frames_are_real_8021qbb_on_the_wire(tmp_path: Path) -> None:
    """tcpdump on a leaf's uplink sees the spine's PAUSE frames arrive; tshark decodes them.
    (The daemon sends them past the sending port's queues, as a NIC's MAC does, so they
    show where they are received, not where they leave.)"""
    pcap = tmp_path / "pfc.pcap"
    dump = None

    def start_capture(_msg: str) -> None:
        nonlocal dump
        if _msg == "running the incast" and dump is None:
            dump = subprocess.Popen(["tcpdump", "-i", "l1-eth6", "-w", str(pcap), "-U",
                                     "ether proto 0x8808"], stderr=subprocess.DEVNULL)

    try:
        r = run_incast(IncastSpec(senders=8), tmp_path / "run", progress=start_capture)
    finally:
        if dump is not None:
            dump.terminate()
            dump.wait(timeout=10)
    assert r["ports"]["l1-eth6"]["pause_rx"] > 0
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "macc.opcode",
                          "-e", "macc.cbfc.pause_time.c3"], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    assert rows and all(op == "0x0101" for op, _q in rows)
    assert {q for _op, q in rows} >= {"65535", "0"}  # XOFF and XON both seen


def test_dcqcn_bounds_the_queue_and_cuts_pauses(tmp_path: Path) -> None:
    # 2 MiB per sender: 1.3 ms of hardware time at line rate, long against DCQCN's
    # 55 us timers (a 512 KiB incast is over before DCQCN has cut twice)
    size = 2 << 20
    pfc = _incast(tmp_path, "pfc", pfc=True, bytes_per_sender=size)
    both = _incast(tmp_path, "dcqcn", pfc=True, dcqcn=True, cnp_interval_us=5.0,
                   bytes_per_sender=size)
    assert both["lossless_drops"] == 0 and both["data_ok"]
    # no loss (a gap at the receiver); a resend without a gap is a timeout that fired
    # while the sender waited behind long pauses (2 of them once in a full suite)
    assert both["psn_errors"] == 0
    assert both["cnps"] > 0 and both["ecn_marked"] > 0
    rates = [row for row in both["series"]["rates"] if row[3] > 0]
    assert min(r[3] for r in rates) < max(r[3] for r in rates)  # senders cut their rate
    # bounded: over the second half the fabric's lossless backlog stays within 2 Kmax
    assert both["late_max_queue_bytes"] <= 100_000 < pfc["late_max_queue_bytes"]
    assert both["max_switch_queue_bytes"] <= both["thresholds"]["buffer_bytes"]
    ratio = pfc["pauses"] / max(1, both["pauses"])
    print(f"pauses: PFC {pfc['pauses']}, PFC+DCQCN {both['pauses']} (x{ratio:.1f})")
    assert ratio >= 5


def test_watchdog_breaks_a_pfc_storm_within_its_time(tmp_path: Path) -> None:
    spec = IncastSpec()
    detect_ns, restore_ns = 10e3 * spec.dilation, 25e3 * spec.dilation  # 10 us / 25 us hw
    # two senders to h0, still sending when h0 starts storming 0.1 s in; light enough
    # that only the storm can keep a queue paused for 10 us
    storm = dict(senders=2, bytes_per_sender=2 << 20, victim_bytes=1 << 20, storm_s=2.0,
                 storm_delay_s=0.1)
    held = _incast(tmp_path, "held", **storm)
    # without a watchdog the port facing the stormer stays paused through the storm
    assert held["ports"]["l0-eth1"]["paused_ns"] >= 0.8 * 2e9
    assert not held["watchdog_events"]

    r = _incast(tmp_path, "storm", watchdog=Watchdog(detect_ns, restore_ns, "drop"), **storm)
    triggered = [e for e in r["watchdog_events"] if e["kind"] == "triggered"]
    assert triggered and triggered[0]["intf"] == "l0-eth1"  # the port facing the stormer
    poll_ns = spec.poll_ms * 1e6
    for delay in watchdog_delays(r):
        assert detect_ns <= delay <= detect_ns + 3 * poll_ns
    assert r["ports"]["l0-eth1"]["paused_ns"] < held["ports"]["l0-eth1"]["paused_ns"] / 2
    assert r["victim"]["done"] and r["data_ok"]  # everything completed after the storm
    print(f"innocent flow: {held['victim']['throughput_Gbps']:.1f} Gb/s held by the storm, "
          f"{r['victim']['throughput_Gbps']:.1f} with the watchdog")


def test_dynamic_thresholds_let_a_port_past_its_static_share_without_loss(
        tmp_path: Path) -> None:
    # 3:1 into h0: two of l0's six ingress ports carry it. Static thresholds stop each
    # at buffer/6 - headroom; with alpha 4 one may hold up to 4/9 of the shared pool.
    r = _incast(tmp_path, "alpha", senders=3, bytes_per_sender=1 << 20, alpha=4.0)
    l0 = r["thresholds"]["switches"]["l0"]
    assert l0["alpha"] == 4.0 and l0["shared_bytes"] > 0
    static_limit = l0["xoff_bytes"] + l0["headroom_bytes"]
    shares = {k: v["max_share_bytes"] for k, v in r["ports"].items() if k.startswith("l0-")}
    assert max(shares.values()) > static_limit, shares
    assert r["pauses"] > 0  # it still pauses, later
    assert r["lossless_drops"] == 0 and r["psn_errors"] == 0 and r["data_ok"]
    assert r["max_switch_queue_bytes"] <= r["thresholds"]["buffer_bytes"]


def test_victim_flow_throughput_is_measured(tmp_path: Path) -> None:
    r = _incast(tmp_path, "hol", victim_bytes=256 * 1024)
    v = r["victim"]
    assert v["done"] and v["bytes"] == 256 * 1024
    assert v["throughput_Gbps"] > 0
    assert v["paused_s"] > 0  # its host was paused: head-of-line blocked
    assert r["lossless_drops"] == 0


def _ovs_send_buffer() -> int:
    from fabrictwin.fabric.ovs_txbuf import _borrow, _socket_fds, _vswitchd_pid

    pid = _vswitchd_pid()
    assert pid is not None
    s = _borrow(pid, _socket_fds(pid)[0])
    assert s is not None
    try:
        return s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    finally:
        s.close()


def test_clean_restores_ovs_buffers_after_a_killed_run(tmp_path: Path) -> None:
    from fabrictwin.fabric import ovs

    ovs.ensure_ovs()
    before = _ovs_send_buffer()
    code = ("import time\nfrom fabrictwin.fabric.ovs_txbuf import raised_tx_buffer\n"
            "with raised_tx_buffer(32 << 20):\n    print('raised', flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "raised"
        assert _ovs_send_buffer() >= 32 << 20
    finally:
        proc.kill()  # SIGKILL: no chance to put the buffer back
        proc.wait()
    assert _ovs_send_buffer() >= 32 << 20  # still raised: a leftover
    out = subprocess.run([sys.executable, "-m", "fabrictwin", "clean"], capture_output=True,
                         text=True, check=True)
    assert "ovs-vswitchd buffer raise" in out.stdout
    assert _ovs_send_buffer() == before
