"""The PFC daemon's series as a timeline, and per-window figures (pure)."""

from __future__ import annotations

from fabrictwin.fabric.pfc.timeline import timeline, window


def rows() -> list[dict]:
    return [
        {"t_ns": 10, "backlog": {"l0-eth1": 500}, "pausing": []},
        {"t_ns": 20, "backlog": {"l0-eth1": 9000}, "pausing": ["l0-eth2"]},
        {"t_ns": 25, "watchdog": {"intf": "l0-eth1"}},            # not a poll row
        {"t_ns": 30, "backlog": {"l0-eth1": 7000, "s0-eth1": 100}, "pausing": ["l0-eth2"]},
        {"t_ns": 40, "backlog": {}, "pausing": []},
        {"t_ns": 50, "backlog": {"s0-eth1": 3000}, "pausing": ["l0-eth2", "s0-eth1"]},
    ]


def test_a_pause_is_a_port_newly_pausing():
    tl = timeline(rows())
    assert [r[0] for r in tl] == [10, 20, 30, 40, 50]
    assert [r[1] for r in tl] == [0, 1, 1, 1, 3]  # l0-eth2 held over 20-30 is one pause
    assert [r[2] for r in tl] == [500, 9000, 7000, 0, 3000]


def test_window_counts_only_what_began_inside_it():
    tl = timeline(rows())
    assert window(tl, 0, 100) == {"switch_pauses": 3, "max_queue_bytes": 9000}
    assert window(tl, 25, 45) == {"switch_pauses": 0, "max_queue_bytes": 7000}
    assert window(tl, 45, 50) == {"switch_pauses": 2, "max_queue_bytes": 3000}
    assert window(tl, 60, 70) == window([], 0, 1) == {"switch_pauses": 0, "max_queue_bytes": 0}
