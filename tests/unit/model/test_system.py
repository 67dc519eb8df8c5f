"""Per-tier figures derived from hardware profiles, and the system builder's checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import FIBRE_NS_PER_M
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.model import build_system, predict
from fabrictwin.model.system import (
    PCIE_TRANSACTIONS_PER_NET_HOP,
    ROCEV2_OVERHEAD_BYTES,
    nvlink_efficiency,
    roce_efficiency,
    roce_payload_bytes,
    scale_out_switch_hops,
)


@pytest.mark.parametrize("name", ["dgx-h100", "dgx-h200", "dgx-a100", "dgx-b200", "gb200-nvl72"])
def test_nvlink_efficiency_from_packet_format(lib, name):
    hn = lib.load(name)
    packet = hn.link_payload_bytes + hn.link_header_bytes + hn.link_response_bytes
    assert nvlink_efficiency(hn) == pytest.approx(hn.link_payload_bytes / packet)
    # 128 B of payload per 160 B on the wire: NCCL's "~20 of 25 GB/s" per NVLink
    assert nvlink_efficiency(hn) == pytest.approx(0.8)
    ring = predict(build_system(hn, hn.gpus), "all_reduce", [1e15], "ring")
    assert ring.busbw_GBps[0] == pytest.approx(0.8 * hn.gpu.rate_bps / 8e9, rel=1e-6)


def test_roce_efficiency_from_mtu():
    assert roce_payload_bytes(4200) == 4096
    assert roce_payload_bytes(1500) == 1024
    assert roce_payload_bytes(9000) == 4096
    assert roce_efficiency(4200) == pytest.approx(4096 / (4096 + ROCEV2_OVERHEAD_BYTES))
    assert roce_efficiency(1500) < roce_efficiency(4200)
    with pytest.raises(FabricTwinError, match="mtu_bytes"):
        roce_payload_bytes(290)


def test_two_nodes_tiers(lib):
    hn, sw = lib.load("dgx-h100"), lib.load("tomahawk5-51t2")
    system = build_system(hn, 16, switch=sw)
    up, out = system.tiers
    assert (up.size, out.size, system.ranks) == (8, 2, 16)
    eff = roce_efficiency(hn.nic.mtu_bytes)
    assert out.payload_bps == pytest.approx(8 * hn.nic.rate_bps * eff)
    assert out.rank_payload_bps == pytest.approx(hn.nic.rate_bps * eff)
    expected_ns = (2 * hn.nic.latency_ns + sw.latency_ns + 2 * 10 * FIBRE_NS_PER_M
                   + PCIE_TRANSACTIONS_PER_NET_HOP * hn.nic.pcie_latency_ns)
    assert out.hop_s == pytest.approx(expected_ns * 1e-9)
    assert up.hop_s == pytest.approx((2 * hn.link_latency_ns + hn.chip.latency_ns) * 1e-9)
    # NCCL runs LL128 over GPUDirect RDMA NICs too (tuning.cc, Ampere and later)
    assert out.ordered and not up.ordered and up.ll128 and out.ll128


def test_overrides_of_nics(lib):
    hn, sw = lib.load("dgx-a100"), lib.load("tomahawk5-51t2")
    system = build_system(hn, 24, switch=sw, nics_per_node=4, nic_rate_bps=400e9)
    out = system.tiers[1]
    assert out.line_bps == 4 * 400e9
    # fewer NICs than GPUs: one GPU's flow gets a whole NIC
    assert out.rank_payload_bps == pytest.approx(400e9 * roce_efficiency(hn.nic.mtu_bytes))


def test_scale_across_adds_fibre(lib):
    hn, sw, dci = lib.load("dgx-h100"), lib.load("tomahawk5-51t2"), lib.load("zr400")
    system = build_system(hn, 64, switch=sw, dcs=2, dci=dci, dci_links=3, distance_m=80_000)
    up, out, across = system.tiers
    assert (up.size, out.size, across.size) == (8, 4, 2)
    assert across.line_bps == 3 * dci.rate_bps
    extra_ns = dci.latency_ns(80_000) + 2 * sw.latency_ns
    assert across.hop_s - out.hop_s == pytest.approx(extra_ns * 1e-9)


def test_switch_hops_follow_the_clos():
    sw = ProfileLibrary().load("tomahawk5-51t2")  # radix 64: rail groups of 32 servers
    assert scale_out_switch_hops(32, 8, sw) == 1
    assert scale_out_switch_hops(33, 8, sw) == 3
    assert scale_out_switch_hops(256, 8, sw) == 3
    assert scale_out_switch_hops(257, 8, sw) == 5


def test_default_nodes(lib):
    hn = lib.load("dgx-h100")
    assert build_system(hn, 5).tiers[0].size == 5
    sys64 = build_system(hn, 64, switch=lib.load("tomahawk5-51t2"))
    assert [t.size for t in sys64.tiers] == [8, 8]


@pytest.mark.parametrize("kwargs,fragment", [
    ({"gpus": 0}, "gpus: must be a positive integer"),
    ({"gpus": 12}, "gpus: 12 is not a whole number"),
    ({"gpus": 16, "nodes": 3}, "nodes: 3 does not divide gpus 16"),
    ({"gpus": 16, "nodes": 1}, "16 GPUs per node exceed"),
    ({"gpus": 16, "nodes": 2, "dcs": 3}, "dcs: 3 does not divide nodes 2"),
    ({"gpus": 8, "dcs": 2}, "dcs: 2 does not divide nodes 1"),
    ({"gpus": 16, "switch": None}, "switch: more than one node"),
    ({"gpus": 16, "nics_per_node": 0}, "nics_per_node"),
    ({"gpus": 32, "dcs": 2}, "dci: more than one DC"),
])
def test_bad_systems_name_the_parameter(lib, kwargs, fragment):
    hn = lib.load("dgx-h100")
    kwargs = {"switch": lib.load("tomahawk5-51t2"), **kwargs}
    with pytest.raises(FabricTwinError, match=fragment):
        build_system(hn, **kwargs)


def test_hyper_node_without_nics_stays_alone(lib):
    hn = replace(lib.load("dgx-h100"), nics_per_gpu=0)
    with pytest.raises(FabricTwinError, match="need at least one NIC"):
        build_system(hn, 16, switch=lib.load("tomahawk5-51t2"))


def test_user_profile_fields_are_checked(tmp_path):
    (tmp_path / "sharp.yaml").write_text(
        "kind: switch\nname: sharp\nradix: 8\nport_rate_bps: 100G\nlatency_ns: 100\n"
        "reduction_efficiency: 1.5\n")
    with pytest.raises(FabricTwinError, match="reduction_efficiency: must be 0..1"):
        ProfileLibrary([tmp_path]).load("sharp")
    (tmp_path / "hn.yaml").write_text("""
kind: hypernode
name: hn
gpu: {model: g, rate_bps: 800G, sync_latency_ns: 1us}
compute_trays: 1
gpus_per_tray: 4
switch_trays: 1
chips_per_tray: 1
chip: {name: c, radix: 8, port_rate_bps: 800G, latency_ns: 50ns}
nic: cx7-400g
link_header_bytes: -1
""")
    with pytest.raises(FabricTwinError, match="link_header_bytes: must not be negative"):
        ProfileLibrary([tmp_path]).load("hn")
