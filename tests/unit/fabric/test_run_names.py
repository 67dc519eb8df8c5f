"""Runs side by side: name slots, prefixed root-namespace names, the shared buffer raise."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from fabrictwin.controllers import kernel_queues
from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric import ovs_txbuf, state
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.topologies.registry import build_topology

SPEC = "leaf_spine,leaves=2,spines=2,hosts_per_leaf=2"


def hold(path: Path) -> int:
    """Hold ``path`` as another run would (its own open file, locked)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_slots_go_to_the_first_one_nobody_holds(tmp_path: Path) -> None:
    first, path0, fd0 = state.claim_slot(tmp_path)
    second, path1, fd1 = state.claim_slot(tmp_path)
    assert (first, second) == (0, 1)
    assert path0.read_text().strip() == str(os.getpid())
    os.close(fd0)  # the first run ends (or is killed: the kernel lets go the same way)
    again, _p, fd2 = state.claim_slot(tmp_path)
    assert again == 0
    for fd in (fd1, fd2):
        os.close(fd)


def test_a_slot_whose_file_was_replaced_is_not_taken(tmp_path: Path) -> None:
    fd = hold(tmp_path / "0")
    slot, _p, mine = state.claim_slot(tmp_path)
    assert slot == 1
    os.close(mine)
    os.close(fd)


def test_all_slots_held_is_one_line(tmp_path: Path) -> None:
    fds = [hold(tmp_path / str(k)) for k in range(state.MAX_SLOTS)]
    try:
        with pytest.raises(FabricTwinError, match="10 fabrictwin runs are going already"):
            state.claim_slot(tmp_path)
    finally:
        for fd in fds:
            os.close(fd)


def test_clean_finds_only_slots_nobody_holds(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state, "SLOT_DIR", tmp_path)
    fd = hold(tmp_path / "0")
    (tmp_path / "1").write_text("12345\n")  # a killed run's
    try:
        assert state._unheld_slots() == [tmp_path / "1"]
    finally:
        os.close(fd)


def test_prefix_names_only_what_lives_in_the_root_namespace() -> None:
    g = build_topology(SPEC)
    plain, ours = plan_emulation(g, 1e4), plan_emulation(g, 1e4, prefix="R2")
    assert ours.prefix == "R2" and plain.prefix == ""
    assert [s.bridge for s in ours.switches] == [f"R2{s.name}" for s in plain.switches]
    assert [s.name for s in ours.switches] == [s.name for s in plain.switches]
    assert [s.dpid for s in ours.switches] == [s.dpid for s in plain.switches]
    for a, b in zip(plain.switches, ours.switches, strict=True):
        assert [f"R2{i}" for _p, i in a.ports] == [i for _p, i in b.ports]
    # hosts' interfaces are in their own name spaces: unchanged, and so are the routes
    assert plain.hosts == ours.hosts
    hosts = {h.name for h in plain.hosts}
    for a, b in zip(plain.links, ours.links, strict=True):
        for node, pa, pb in ((a.u, a.intf_u, b.intf_u), (a.v, a.intf_v, b.intf_v)):
            assert pb == (pa if node in hosts else f"R2{pa}")


def test_prefixed_delay_lines() -> None:
    g = build_topology("multi_dc,dcs=2,distance_km=10")
    plan = plan_emulation(g, 1e4, prefix="R1")
    lines = [link.delay_line for link in plan.links if link.delay_line]
    assert lines and all(name.startswith("R1ftd") for name in lines)


def test_a_prefix_too_long_for_the_names_is_named() -> None:
    g = build_topology("ai_factory,hypernodes=2,profile=dgx-h100")  # 13-character ports
    plan_emulation(g, 1e4, prefix="R1")
    with pytest.raises(FabricTwinError, match="prefix 'R12'"):
        plan_emulation(g, 1e4, prefix="R12")


def test_queue_telemetry_reads_prefixed_ports_as_the_graph_names_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    g = build_topology(SPEC)
    g.graph["names_prefix"] = "R3"
    source = kernel_queues.controller_source(g)
    assert source.ports and all(p.startswith("R3") for p in source.ports)
    port = sorted(source.ports)[0]

    class Q:
        backlog_bytes = 4200

    monkeypatch.setattr(kernel_queues, "read_backlogs", lambda devs, _r: {port: Q()})
    switch, _, n = port.removeprefix("R3").rpartition("-eth")
    assert source.sample().backlog_bytes == {(switch, int(n)): 4200}


def test_the_buffer_raise_counts_live_runs_other_than_this_one() -> None:
    dead = 2 ** 22 + 1  # above pid_max's default: never a live process
    record = {"owners": [os.getpid(), 1, dead], "vswitchd": 7, "sockets": []}
    assert ovs_txbuf._owners(record) == [1]
    assert ovs_txbuf._owners({"owner": dead}) == []  # a record from before runs shared it


@pytest.mark.parametrize(("run_id", "why"), [
    ("ft1;reboot", "expected a run id like ft12345"),
    (f"ft{os.getpid()}", "that run is still going"),
])
def test_clean_of_one_run_refuses_a_bad_or_live_id(run_id: str, why: str) -> None:
    with pytest.raises(FabricTwinError, match=why):
        state.clean(run_id)
