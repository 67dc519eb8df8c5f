"""Reading OVS's own loss counters (pure parsing; the root tests read them live)."""

from __future__ import annotations

from fabrictwin.fabric.ovs_txbuf import parse_lost

DPCTL = """netdev@ovs-netdev:
  lookups: hit:123456 missed:789 lost:4
  flows: 52
  port 0: ovs-netdev (tap)
  port 1: l0-eth1
"""


def test_lost_upcalls_are_read_from_every_datapath():
    assert parse_lost(DPCTL) == 4
    two = DPCTL + DPCTL.replace("lost:4", "lost:11").replace("netdev@", "system@")
    assert parse_lost(two) == 15


def test_no_datapath_or_an_error_is_zero_lost():
    assert parse_lost("") == 0
    assert parse_lost("ovs-appctl: ovs-vswitchd: server returned an error") == 0
    assert parse_lost("  lookups: hit:1 missed:2 lostx:3") == 0
