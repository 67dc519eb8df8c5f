"""The tc lines of every emulated port: classes, filters, and queues that never drop
on links that are lossless in hardware."""

from __future__ import annotations

from fabrictwin.fabric.queues import CREDIT_QUEUE_PACKETS, default_queues, tc_lines


def test_every_class_gets_an_htb_class_and_the_lossless_dscp_a_filter():
    lines = tc_lines("s1-eth1", 10e6, 0, False, default_queues())
    assert lines[0] == "qdisc replace dev s1-eth1 root handle 1: htb default 10"
    assert sum("htb rate" in x for x in lines) == 1 + 3
    assert any("dsfield 0x68 0xfc flowid 1:11" in x for x in lines)  # DSCP 26 -> lossless
    assert not any("pfifo" in x for x in lines)  # lossy links: HTB's default FIFO


def test_credit_links_get_queues_deeper_than_any_window():
    lines = tc_lines("c0-eth3", 10e6, 0, False, default_queues(), credit=True)
    leaves = [x for x in lines if "pfifo" in x]
    assert len(leaves) == 3
    assert all(x.endswith(f"pfifo limit {CREDIT_QUEUE_PACKETS}") for x in leaves)
    netem = tc_lines("c0-eth3", 10e6, 5e6, True, default_queues(), credit=True)
    assert all(f"limit {CREDIT_QUEUE_PACKETS}" in x for x in netem if "netem" in x)
