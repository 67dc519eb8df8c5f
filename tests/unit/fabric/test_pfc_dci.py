"""PFC over DCI links (no root): per-switch buffers, the distance-derived refusal, lossy tiers."""

from __future__ import annotations

import json

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.pfc.setup import (
    DCI_TIER,
    PfcOptions,
    link_distances,
    pfc_setup,
    switch_buffers,
)
from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.topologies.registry import build_topology

# two DCs, 10 km apart over zr400; each router d{N}x has two spine ports and the DCI port eth3
MULTI = "multi_dc,dcs=2,leaves=2,spines=2,hosts_per_leaf=1,distance_km=10"
LEAF_SPINE = "leaf_spine,leaves=3,spines=1,hosts_per_leaf=5,uplink_rate=400G"
LOSSY = PfcOptions(lossy_tiers=(DCI_TIER,))


@pytest.fixture(scope="module")
def graph():
    return build_topology(MULTI)


@pytest.fixture(scope="module")
def plan(graph):
    return plan_emulation(graph, 40000.0)


def test_graph_hardware_helpers(graph):
    buffers = switch_buffers(graph)
    assert set(buffers) == {n for n, d in graph.nodes(data=True) if d["kind"] != "host"}
    assert set(buffers.values()) == {165_000_000}  # tomahawk5-51t2, the default switch
    assert link_distances(graph) == {("d0x", "d1x"): 10_000.0, ("d1x", "d0x"): 10_000.0}


# Hardware headroom of d0x-eth3, frames of MTU 1500 + 22 = 1522 B:
#   cable 2 x (10 km x 4.9 ns/m + 2 x 2 us) = 106 us x 400 Gb/s = 5 300 000 B
#   frames (1522 + 20) x 2 + (64 + 20) = 3 168 B; response (400G standard) 180 800 B
#   total 5 483 968 B. 1 MB over 3 ingress ports (2 spines, the DCI) = 333 333 B a port.
HEADROOM_10KM = 5_300_000 + 3_168 + 180_800


def test_a_dci_that_cannot_be_lossless_is_refused_in_one_line(plan, graph):
    with pytest.raises(FabricTwinError) as e:
        pfc_setup(plan, PfcOptions(), distances_m=link_distances(graph))
    assert str(e.value) == (
        "pfc: DCI port d0x-eth3 (10 km at 400 Gb/s) needs 5.48 MB of headroom, switch d0x "
        "has 0.333 MB per port after sharing 1 MB over 3 lossless ingress ports (headroom "
        "+ 2 x MTU 1522 B each); lossless over this DCI is not feasible: run with "
        "--dci-lossy (the DCI class without PFC, losses recovered by the transport)")
    assert HEADROOM_10KM == 5_483_968


def test_without_distances_the_refusal_gives_the_delay(plan):
    with pytest.raises(FabricTwinError, match=r"^pfc: DCI port d0x-eth3 \(53 us one way at "
                                              r"400 Gb/s\) needs 5.48 MB"):
        pfc_setup(plan, PfcOptions())


def test_the_routers_own_buffer_holds_10_km(plan, graph):
    s = pfc_setup(plan, PfcOptions(), buffers=switch_buffers(graph))
    r = s.report["switches"]["d0x"]
    # 165 MB / 3 = 55 000 000 B a port; the DCI's headroom is the hardware one (the
    # emulated one, same cable bytes, has a smaller response at the dilated rate)
    assert r["headroom_bytes"] == r["hardware_headroom_bytes"] == HEADROOM_10KM
    assert (r["buffer_bytes"], r["xoff_bytes"]) == (165_000_000, 55_000_000 - HEADROOM_10KM)
    assert s.queues["d0x-eth3"].limit_bytes == 165_000_000
    assert "lossy_ports" not in s.report  # no lossy tier asked for


def test_hardware_headroom_counts_even_when_the_delay_is_not_emulated(graph):
    # at D = 10 the DCI's 53 us becomes 530 us, under the 1 ms a delay line needs: the
    # emulated cable holds nothing, but the port is still refused for the hardware's fibre
    plan = plan_emulation(graph, 10.0)
    dci = next(link for link in plan.links if link.tier == DCI_TIER)
    assert dci.delay_ns == 0
    with pytest.raises(FabricTwinError, match=r"DCI port d0x-eth3 \(10 km at 400 Gb/s\) "
                                              r"needs 5.48 MB of headroom, switch d0x has "
                                              r"3.33 MB per port"):
        pfc_setup(plan, PfcOptions(buffer_bytes=10_000_000, reaction_ms=0.001),
                  distances_m=link_distances(graph))


def test_a_switch_too_small_without_its_dci_keeps_the_old_message(plan):
    with pytest.raises(FabricTwinError) as e:
        pfc_setup(plan, PfcOptions(), buffers={"d0x": 10_000})
    assert str(e.value).startswith("pfc: switch d0x: pfc thresholds: buffer 10000 B over 3 "
                                   "ingress ports")
    with pytest.raises(FabricTwinError) as e:
        pfc_setup(plan, PfcOptions(buffer_bytes=100_000))
    assert str(e.value).startswith("pfc: switch d0l0: ") and "\n" not in str(e.value)


def test_lossy_dci_ports_get_no_thresholds(plan):
    s = pfc_setup(plan, LOSSY)
    lossy = {"d0x-eth3", "d1x-eth3"}
    daemon = json.loads(json.dumps(s.daemon))
    assert not lossy & {p["intf"] for p in daemon["ports"]}
    assert not lossy & {q["intf"] for q in daemon["queues"]}
    assert {p["intf"] for p in daemon["ports"]} >= {"d0x-eth1", "d0x-eth2"}
    # the queue stays, at the buffer: without pauses it tail-drops when full
    assert {s.queues[i].limit_bytes for i in lossy} == {1_000_000}
    assert s.report["lossy_tiers"] == [DCI_TIER]
    assert s.report["lossy_ports"] == sorted(lossy)
    r = s.report["switches"]["d0x"]
    assert r["ingress_ports"] == 2 and r["lossy_ports"] == ["d0x-eth3"]
    assert r["xoff_bytes"] == 500_000 - r["headroom_bytes"]
    assert "lossy_ports" not in s.report["switches"]["d0s0"]


def test_lossy_tiers_change_nothing_where_no_link_has_them():
    plan = plan_emulation(build_topology(LEAF_SPINE), 40000.0)
    base, lossy = pfc_setup(plan, PfcOptions()), pfc_setup(plan, LOSSY)
    assert (lossy.queues, lossy.daemon) == (base.queues, base.daemon)
    assert lossy.report.pop("lossy_ports") == [] and lossy.report.pop("lossy_tiers")
    assert lossy.report == base.report


def test_buffers_equal_to_the_default_change_nothing(plan):
    lossy = pfc_setup(plan, LOSSY)
    every = {sw.name: 1_000_000 for sw in plan.switches}
    again = pfc_setup(plan, LOSSY, buffers=every)
    assert (again.queues, again.daemon, again.report) == (lossy.queues, lossy.daemon,
                                                          lossy.report)


def test_dynamic_thresholds_share_the_switchs_own_buffer(plan, graph):
    s = pfc_setup(plan, PfcOptions(alpha=1.0), buffers=switch_buffers(graph))
    r = s.report["switches"]["d0x"]
    assert r["shared_bytes"] == 165_000_000 - 3 * HEADROOM_10KM
    assert {p["shared_bytes"] for p in s.daemon["ports"] if p["switch"] == "d0x"} == {
        r["shared_bytes"]}


@pytest.mark.parametrize(("tiers", "match"), [
    (("wan",), "pfc: lossy_tiers: unknown tier 'wan' (tiers: scale-up, scale-out, "
               "scale-across)"),
    ("scale-across", "pfc: lossy_tiers must be a list of tiers"),
])
def test_lossy_tiers_are_checked(tiers, match):
    with pytest.raises(FabricTwinError, match=match.replace("(", r"\(").replace(")", r"\)")):
        PfcOptions(lossy_tiers=tiers)
    assert PfcOptions(lossy_tiers=["scale-across"]).lossy_tiers == ("scale-across",)


@pytest.mark.parametrize("bad", [0, -5, 1.5e6, True, "1MB"])
def test_buffers_must_be_positive_integers(plan, bad):
    with pytest.raises(FabricTwinError, match="pfc: buffers: switch d0x: must be a positive "
                                              "integer"):
        pfc_setup(plan, LOSSY, buffers={"d0x": bad})
