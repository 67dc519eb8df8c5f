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


@pytest.mark.parametrize("spec", ["link:l0-s1@10us/30us", "switch:s0@10us/30us",
                                  "nic:h0@10us/30us"])
def test_a_link_switch_or_nic_down_for_a_while_comes_back_up(spec):
    f = parse_fault(spec, G)
    assert (f.at_ns, f.down_ns) == (10_000, 30_000)
    down, up = timeline([f], PLAN, 0, until_ns=1e15)
    d = PLAN.dilation
    assert (down.t_ns, down.up, up.t_ns, up.up) == (10_000 * d, False, 40_000 * d, True)
    assert down.ports == up.ports == tuple(f.ports(PLAN)) and down.ports
    # without /DOWNTIME it stays down until the size ends (injected brings it back)
    assert len(timeline([parse_fault(spec.rsplit("/", 1)[0], G)], PLAN, 0, 1e15)) == 1


@pytest.mark.parametrize("spec, message", [
    ("link:l0-s9@1us", "no link 'l0-s9'"),
    ("link:h0-h1@1us", "no link 'h0-h1'"),
    ("switch:h0@1us", "no switch 'h0'"),
    ("nic:s0@1us", "no host 's0'"),
    ("melt:s0@1us", "expected KIND:TARGET@TIME"),
    ("link:l0-s1", "expected KIND:TARGET@TIME"),
    ("flap:l0-s1@1us", "needs /PERIOD"),
    ("link:l0-s1@1us/0us", "DOWNTIME takes a positive time"),
    ("nic:h0@1us/1%", "DOWNTIME takes a positive time"),
    ("link:l0-s1;reboot@1us", "expected KIND:TARGET@TIME"),
    ("link:l0-s1@nanus", "expected KIND:TARGET@TIME"),
])
def test_bad_faults_are_one_line(spec, message):
    with pytest.raises(FabricTwinError, match=message.replace("(", r"\(")):
        parse_fault(spec, G)


# -- loss, corruption, the controller ----------------------------------------------------
from fabrictwin.runs.faults import (  # noqa: E402
    controller_outages,
    injected,
    parse_faults,
    reroutes,
    timeline,
)

DEFAULT = build_topology("ai_factory,hypernodes=2,dcs=1,profile=dgx-h100")
DPLAN = plan_emulation(DEFAULT, 1e5)


def test_loss_and_corruption_parse_their_rate_and_take_no_port_down():
    f = parse_fault("loss:l0-s1@20us/1%", G)
    assert (f.kind, f.nodes, f.at_ns, f.rate) == ("loss", ("l0", "s1"), 20_000, 0.01)
    assert f.ports(PLAN) == []
    assert parse_fault("corrupt:s1-l0@1ms/0.5%", G).rate == 0.005
    assert parse_fault("loss:l0-s1@1us/100%", G).rate == 1.0


def test_a_switch_link_is_filtered_on_both_switch_ports_each_feeding_the_other_end():
    f = parse_fault("loss:l0-s1@20us/1%", G)
    (link,) = [lk for lk in PLAN.links if {lk.u, lk.v} == {"l0", "s1"}]
    if link.delay_line:
        assert f.feeds(PLAN) == [f"{link.delay_line}a", f"{link.delay_line}b"]
    else:
        assert sorted(f.feeds(PLAN)) == sorted([link.intf_u, link.intf_v])


def test_a_delayed_host_link_is_filtered_both_ways_on_its_delay_line():
    f = parse_fault("loss:d0n0g0-d0l0r0@20us/1%", DEFAULT)
    (link,) = [lk for lk in DPLAN.links if {lk.u, lk.v} == {"d0n0g0", "d0l0r0"}]
    assert link.delay_line and f.feeds(DPLAN) == [f"{link.delay_line}a",
                                                  f"{link.delay_line}b"]


def test_an_undelayed_host_link_is_filtered_toward_the_host_only():
    f = parse_fault("corrupt:h0-l0@1us/1%", G)
    (link,) = [lk for lk in PLAN.links if {lk.u, lk.v} == {"h0", "l0"}]
    if not link.delay_line:
        assert f.feeds(PLAN) == [link.intf_v if link.v == "l0" else link.intf_u]


def test_the_controller_fault_and_its_downtime():
    f = parse_fault("controller@20us/100us", G)
    assert (f.kind, f.nodes, f.at_ns, f.down_ns) == ("controller", (), 20_000, 100_000)
    assert parse_fault("controller@5us", G).down_ns == 0  # back after the size


@pytest.mark.parametrize("spec, message", [
    ("loss:l0-s1@1us", "loss needs /RATE%"),
    ("loss:l0-s1@1us/2us", "loss needs /RATE%"),
    ("corrupt:l0-s1@1us/0%", "above 0% and at most 100%"),
    ("loss:l0-s1@1us/150%", "above 0% and at most 100%"),
    ("loss:l0-s9@1us/1%", "no link 'l0-s9'"),
    ("loss:l0@1us/1%", "no link 'l0'"),
    ("controller:s0@1us", "the controller takes no target"),
    ("controller@1us/5%", "takes a time"),
    ("controller@1us/0us", "must be positive"),
    ("switch:s0@1us/1%", "switch:TARGET@TIME/DOWNTIME takes a positive time"),
    ("flap:l0-s1@1us/1%", "needs /PERIOD"),
    ("loss@1us/1%", "expected KIND:TARGET@TIME"),
])
def test_bad_new_faults_are_one_line(spec, message):
    with pytest.raises(FabricTwinError, match=message.replace("(", r"\(")) as exc:
        parse_fault(spec, G)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(f"--fault {spec!r}: ")


def test_a_controller_fault_needs_the_controller():
    with pytest.raises(FabricTwinError, match="no controller .--static."):
        parse_faults(["link:l0-s1@1us", "controller@1us/2us"], G, controller=False)
    assert len(parse_faults(["controller@1us/2us"], G)) == 1


def test_the_timeline_in_dilated_time():
    faults = [parse_fault(s, G) for s in ("controller@20us/100us", "loss:l0-s1@10us/1%",
                                          "flap:l0-s0@5us/50us")]
    steps = timeline(faults, PLAN, 1_000, until_ns=1_000 + 120_000 * PLAN.dilation)
    d = PLAN.dilation
    got = [(s.t_ns, s.action, s.up) for s in steps]
    assert got == [(1_000 + 5_000 * d, "ports", False), (1_000 + 10_000 * d, "loss", False),
                   (1_000 + 20_000 * d, "controller", False),
                   (1_000 + 55_000 * d, "ports", True),
                   (1_000 + 105_000 * d, "ports", False),
                   (1_000 + 120_000 * d, "controller", True)]
    loss = steps[1]
    assert loss.rate == 0.01 and loss.ports == tuple(faults[1].feeds(PLAN))
    # no downtime: it comes back only after the size (injected's cleanup)
    (only,) = timeline([parse_fault("controller@1us", G)], PLAN, 0, 1e12)
    assert (only.action, only.up) == ("controller", False)


class FakeController:
    """What injected() asks of a ControllerProcess."""

    def __init__(self):
        self.calls, self.proc = [], type("P", (), {"pid": 100})()

    def stop(self):
        self.calls.append("stop")

    def restart(self):
        self.calls.append("restart")
        self.proc.pid += 1

    def wait_switches(self, count, timeout_s, since):
        self.calls.append(("wait", count, since > 0))


class OneSwitchPlan:
    dilation = 1.0
    switches = ("s0",)
    links = hosts = ()


def test_injected_stops_and_restarts_the_controller_and_waits_for_the_switches():
    import time

    ctl, pids = FakeController(), []
    f = parse_fault("controller@1us/2ms", G)
    start = time.monotonic_ns()
    with injected([f], OneSwitchPlan, start, start + 1e9, controller=ctl,
                  record_pid=pids.append) as events:
        time.sleep(0.05)
    assert ctl.calls == ["stop", "restart", ("wait", 1, True)] and pids == [101]
    down, up = events
    assert (down["action"], down["up"], up["up"]) == ("controller", False, True)
    assert 0 < down["hw_us"] < up["hw_us"] and up["listening_t"] >= up["t"]


def test_injected_restarts_a_controller_still_down_when_the_size_ends():
    import time

    ctl = FakeController()
    start = time.monotonic_ns()
    with injected([parse_fault("controller@1us", G)], OneSwitchPlan, start, start + 1e9,
                  controller=ctl) as events:
        time.sleep(0.02)
    assert ctl.calls == ["stop", "restart", ("wait", 1, True)]
    assert events[-1]["after_size"] and events[-1]["up"]


def test_injected_refuses_a_controller_fault_without_one():
    with pytest.raises(FabricTwinError, match="no controller"), \
            injected([parse_fault("controller@1us", G)], OneSwitchPlan, 0, 1e9):
        pass


def test_controller_outages_from_the_events_and_the_decision_log():
    events = [{"action": "ports", "t": 99.0, "ports": ["x"], "up": False, "hw_us": 1.0},
              {"action": "controller", "up": False, "t": 100.0, "hw_us": 20.0},
              {"action": "controller", "up": True, "t": 110.0, "hw_us": 120.0,
               "listening_t": 110.8}]
    decisions = [{"kind": "switch_ready", "switch": "s0", "t": 50.0},   # before: not counted
                 {"kind": "switch_ready", "switch": "s0", "t": 111.2},
                 {"kind": "switch_ready", "switch": "s1", "t": 111.5},
                 {"kind": "switch_ready", "switch": "s1", "t": 112.0}]
    (o,) = controller_outages(decisions, events, switches=2)
    assert o == {"down_us": 20.0, "up_us": 120.0, "listening_ms": 800.0,
                 "reprogrammed_ms": 1500.0, "after_size": False}
    (o,) = controller_outages(decisions, events, switches=3)  # one never came back
    assert o["reprogrammed_ms"] is None


def test_reroutes_count_port_events_only():
    log = [{"t": 10.5, "kind": "reroute_installed"}]
    events = [{"action": "controller", "up": False, "t": 9.0},
              {"action": "ports", "t": 10.0, "ports": ["a"], "up": False},
              {"action": "loss", "t": 10.1, "ports": ["b"], "rate": 0.01}]
    assert reroutes(log, events) == [500.0]
