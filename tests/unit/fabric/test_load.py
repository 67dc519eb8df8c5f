"""Dilation from the routed load of a run's schedule (pure)."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.load import dilation_for_traffic, step_loads
from fabrictwin.fabric.plan import choose_dilation, plan_emulation
from fabrictwin.runs.schedules import traffic_of
from fabrictwin.topologies.registry import build_topology

TWO_DC = ("ai_factory,hypernodes=1,dcs=2,profile=dgx-h100,gpus_per_tray=2,distance_km=10,"
          "dci_routers=2")


def test_one_transfer_loads_its_path_at_the_nic_rate():
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=1")
    plan = plan_emulation(g, 1.0)
    (load,) = step_loads(plan, [[("h0", "h1")]])
    # host > leaf > spine > leaf > host: four link directions, each at the 400G NIC rate
    assert len(load) == 4
    assert all(bps == pytest.approx(400e9) for bps in load.values())


def test_a_link_carries_no_more_than_its_rate():
    # two hosts on one leaf send across a single spine; the leaf's uplink is one link
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2,uplink_rate=400G")
    plan = plan_emulation(g, 1.0)
    (load,) = step_loads(plan, [[("h0", "h2"), ("h1", "h3")]])
    assert max(load.values()) == pytest.approx(400e9)


def test_transfers_from_one_interface_share_its_rate():
    g = build_topology("leaf_spine,leaves=1,spines=1,hosts_per_leaf=3")
    plan = plan_emulation(g, 1.0)
    (load,) = step_loads(plan, [[("h0", "h1"), ("h0", "h2")]])
    up = [bps for (a, _b), bps in load.items() if a.startswith("h0-")]
    assert up == [pytest.approx(400e9)]  # not 800G: two transfers, one NIC
    down = sorted(bps for (_a, b), bps in load.items() if b.startswith(("h1-", "h2-")))
    assert down == [pytest.approx(200e9)] * 2


def test_a_gpu_stripes_over_its_planes():
    g = build_topology("hypernode,profile=dgx-h100")  # 4 NVSwitch planes, 5/4/4/5 links
    plan = plan_emulation(g, 1.0)
    (load,) = step_loads(plan, [[("g0", "g1")]])
    up = sorted(bps for (a, _b), bps in load.items() if a.startswith("g0-"))
    assert len(up) == 4
    assert sum(up) == pytest.approx(sum(d["rate_bps"] for _, _, d in g.edges("g0", data=True)))


def test_the_peak_step_sets_d_and_is_named():
    g = build_topology("leaf_spine,leaves=2,spines=1,hosts_per_leaf=2")
    plan = plan_emulation(g, 1.0)
    steps = [[("h0", "h2")], [("h0", "h2"), ("h1", "h3")]]
    c = dilation_for_traffic(plan, steps, 1e9, link_share=0.5, total_share=0.05)
    assert c.step == 1
    # two flows over four link directions each at 400G: 3.2T of directions, 1.6T halved
    assert c.total_bps == pytest.approx(1.6e12)
    assert c.dilation == pytest.approx(1.6e12 / (1e9 * 0.05))
    assert "step 1" in c.set_by


def test_a_single_flow_can_be_set_by_its_link():
    g = build_topology("leaf_spine,leaves=1,spines=1,hosts_per_leaf=2")
    plan = plan_emulation(g, 1.0)
    c = dilation_for_traffic(plan, [[("h0", "h1")]], 1e9, link_share=0.01, total_share=1.0)
    assert c.dilation == pytest.approx(400e9 / 1e7)
    assert c.set_by.startswith("link h0-eth1 > ")


def test_pipeline_across_dcs_gets_a_far_smaller_d_than_all_links():
    g = build_topology(TWO_DC)
    plan = plan_emulation(g, 1.0)
    pp = dilation_for_traffic(plan, traffic_of(g, "sendrecv", "pipeline", 1 << 20), 1e9)
    ar = dilation_for_traffic(plan, traffic_of(g, "all_reduce", "hierarchical", 1 << 20), 1e9)
    everything = choose_dilation(g, 1e9 * 0.05, all_links=True)
    # the NVLink phase sets the all-reduce's D; the pipeline crosses only NICs and the DCI
    assert pp.dilation < ar.dilation < everything
    assert ar.step == 0 and "step 0" in ar.set_by
    assert pp.total_bps < 4 * 400e9 * 7 / 2  # 2 lanes, 7 hops each at most, halved


def test_no_data_and_bad_rates_are_refused():
    g = build_topology("leaf_spine,leaves=1,spines=1,hosts_per_leaf=2")
    plan = plan_emulation(g, 1.0)
    with pytest.raises(FabricTwinError, match="moves no data"):
        dilation_for_traffic(plan, [[]], 1e9)
    with pytest.raises(FabricTwinError, match="positive"):
        dilation_for_traffic(plan, [[("h0", "h1")]], 0.0)
