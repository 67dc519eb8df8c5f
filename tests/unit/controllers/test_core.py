"""Policy files (strict, one-line errors) and adaptive re-weighting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fabrictwin.controllers.adaptive import group_weights
from fabrictwin.controllers.messages import GroupMod
from fabrictwin.controllers.policy import AdaptivePolicy, Policy, load_policy, policy_from_data
from fabrictwin.controllers.tables import LOSSLESS_BASE
from fabrictwin.errors import FabricTwinError
from tests.helpers.routing import bring_up, check_all_pairs


def test_defaults_and_a_full_file(tmp_path):
    assert Policy().routing == "ecmp" and Policy().telemetry_interval_s == 0.1
    path = tmp_path / "p.yaml"
    path.write_text("""
routing: adaptive
telemetry_interval_s: 250ms
arp: drop
ecn: {profile: hpcc, pmax: 0.1}
adaptive: {util_high: 0.9, hold_s: 2}
classes: {lossless_dscp: 24}
rate_limits_bps: {lossless: 400G}
""")
    p = load_policy(path)
    assert (p.routing, p.telemetry_interval_s, p.arp) == ("adaptive", 0.25, "drop")
    red = p.ecn.red()
    assert (red.kmin_bytes, red.kmax_bytes, red.pmax, red.reference_rate_bps) == \
        (100e3, 400e3, 0.1, 25e9)
    assert p.adaptive.hold_s == 2.0 and p.classes.lossless_dscp == 24
    assert p.rate_limits_bps == (("lossless", 400e9),)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_policy(empty) == Policy()


@pytest.mark.parametrize("text, where", [
    ("ecn: {kmin_bytes: 300KB}", "ecn.kmax_bytes: must exceed kmin_bytes"),
    ("ecn: {pmax: 1.5}", "ecn.pmax: must be above 0 and at most 1"),
    ("ecn: {profile: red}", "ecn.profile: expected one of dcqcn, hpcc"),
    ("ecn: {kmin: 5KB}", "ecn.kmin: unknown key"),
    ("routing: ospf", "routing: expected one of ecmp, adaptive"),
    ("telemetry_interval_s: -1", "telemetry_interval_s: must be positive"),
    ("adaptive: {min_weight: 500}", "adaptive.min_weight: must be at least 0 and at most 100"),
    ("classes: {cnp_dscp: 26}", "classes.cnp_dscp: must differ from lossless_dscp"),
    ("rate_limits_bps: {bulk: 1G}", "rate_limits_bps.bulk: unknown traffic class"),
    ("rate_limits_bps: {cnp: fast}", "rate_limits_bps.cnp: cannot read 'fast' as a rate"),
    ("ecn: {enabled: maybe}", "ecn.enabled: expected true or false"),
    ("routes: ecmp", "routes: unknown key"),
])
def test_bad_policy_rejected_with_one_line_naming_the_key(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(FabricTwinError) as err:
        load_policy(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: {where}"), msg


def test_bad_policy_from_the_command_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("ecn:\n  pmax: 2\n")
    r = subprocess.run([sys.executable, "-m", "fabrictwin.controllers", "--topo", "fat_tree,k=4",
                        "--policy", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"fabrictwin: error: {path}: ecn.pmax: must be above 0 and at most 1, got 2"]


def test_group_weights_policy():
    cfg = AdaptivePolicy()
    ports = [1, 2, 3, 4]
    assert group_weights(ports, {}, {}, cfg) == dict.fromkeys(ports, 100)
    all_hot = dict.fromkeys(ports, True)
    assert group_weights(ports, dict.fromkeys(ports, 1.0), all_hot, cfg) == \
        dict.fromkeys(ports, 100)
    w = group_weights(ports, {1: 0.95, 2: 0.5}, {1: True}, cfg)
    assert w == {1: 5, 2: 100, 3: 100, 4: 100}
    assert group_weights(ports, {1: 1.0}, {1: True}, cfg)[1] == cfg.min_weight


def _uplink_group(core):
    edge = next(s for s in core.fabric.switches if s.startswith("p0e"))
    ((gid, ports),) = core.tables[edge].groups.items()
    return edge, gid, sorted(ports)


def test_adaptive_moves_weight_off_a_congested_uplink_and_back():
    policy = policy_from_data({"routing": "adaptive", "adaptive": {"hold_s": 1}})
    g, core, net = bring_up("fat_tree,k=4", policy=policy, dilation=1000)
    edge, gid, (hot, cool) = _uplink_group(core)
    dpid = core.fabric.dpid[edge]
    rate_bytes_s = core.fabric.port_peer[(edge, hot)][1] / 1000 / 8  # emulated rate
    assert core.port_stats(dpid, {hot: 0, cool: 0}, 0.0).messages == ()
    step = core.port_stats(dpid, {hot: int(0.97 * rate_bytes_s), cool: 1000}, 1.0)
    mods = [m for m in step.messages if isinstance(m, GroupMod)]
    assert {m.group_id for m in mods} == {gid, LOSSLESS_BASE + gid}
    weights = {b.actions[0].port: b.weight for b in mods[0].buckets}
    assert weights == {hot: 3, cool: 100}
    util, d = step.decisions
    assert util.kind == "util" and util.data == {"switch": edge, "util": {str(hot): 0.97}}
    assert d.kind == "adaptive" and d.data["util"][str(hot)] == pytest.approx(0.97)
    net.send(step)
    check_all_pairs(g, net, sources=[edge])  # still every shortest path (weights > 0)
    # congestion clears within the hold time: no flapping; after it, back to equal weights
    quiet = int(0.97 * rate_bytes_s) + 1000
    assert core.port_stats(dpid, {hot: quiet, cool: 2000}, 1.5).messages == ()
    back = core.port_stats(dpid, {hot: quiet + 1000, cool: 3000}, 2.5)
    weights = {b.actions[0].port: b.weight for b in back.messages[0].buckets}
    assert weights == {hot: 100, cool: 100}


def test_ecmp_mode_never_reweights():
    _g, core, _net = bring_up("fat_tree,k=4", dilation=1000)
    edge, _gid, (hot, cool) = _uplink_group(core)
    dpid = core.fabric.dpid[edge]
    core.port_stats(dpid, {hot: 0, cool: 0}, 0.0)
    assert core.port_stats(dpid, {hot: 10**9, cool: 0}, 1.0).messages == ()
    assert core.util[(edge, hot)] > 1
