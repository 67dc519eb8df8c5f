"""Faults for a running collective (pure parts): parsing against the topology, their ports."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.runs.faults import parse_fault
from fabrictwin.topologies.registry import build_topology

G = build_topology("leaf_spine,leaves=2,spines=2,hosts_per_leaf=2")
PLAN = plan_emulation(G, 1000.0)


def test_a_link_fault_takes_both_switch_ports_down():
    f = parse_fault("link:l0-s1@20us", G)
    assert f.at_ns == 20_000 and f.nodes == ("l0", "s1")
    ports = f.ports(PLAN)
    assert len(ports) == 2 and {p.split("-")[0] for p in ports} == {"l0", "s1"}


def test_a_switch_fault_takes_all_its_ports_and_a_nic_only_its_switch_side():
    # both ends of each of its links: its own ports and the leaves' ports facing it
    assert len(parse_fault("switch:s0@1ms", G).ports(PLAN)) == 2 * G.degree("s0")
    (port,) = parse_fault("nic:h0@1ms", G).ports(PLAN)
    assert port.startswith("l0-")  # the leaf's side, in the root name space


def test_a_flap_needs_its_period():
    assert parse_fault("flap:l1-s0@5us/2us", G).period_ns == 2000


@pytest.mark.parametrize("spec, message", [
    ("link:l0-s9@1us", "no link 'l0-s9'"),
    ("link:h0-h1@1us", "no link 'h0-h1'"),
    ("switch:h0@1us", "no switch 'h0'"),
    ("nic:s0@1us", "no host 's0'"),
    ("melt:s0@1us", "expected KIND:TARGET@TIME"),
    ("link:l0-s1", "expected KIND:TARGET@TIME"),
    ("flap:l0-s1@1us", "needs /PERIOD"),
    ("link:l0-s1@1us/2us", "needs /PERIOD"),
    ("link:l0-s1;reboot@1us", "expected KIND:TARGET@TIME"),
    ("link:l0-s1@nanus", "expected KIND:TARGET@TIME"),
])
def test_bad_faults_are_one_line(spec, message):
    with pytest.raises(FabricTwinError, match=message.replace("(", r"\(")):
        parse_fault(spec, G)
