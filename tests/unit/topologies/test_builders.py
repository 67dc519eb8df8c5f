"""Topology builders: closed forms against graph computations, radix, bad input."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import SwitchChip
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.topologies import graph as tg
from fabrictwin.topologies.analysis import (
    all_hosts_reachable,
    check,
    max_flow_bisection_bps,
    path_extremes,
)
from fabrictwin.topologies.clos import fat_tree, leaf_spine
from fabrictwin.topologies.hypernode import add_hypernode, hypernode
from fabrictwin.topologies.registry import build_topology

PROPS = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_consistent(g: nx.Graph) -> dict:
    """Closed-form bisection equals max flow; representatives give the exact extremes;
    ports within radix; port numbers on each node are 1..n without gaps."""
    report = check(g, exact=True)
    assert report["checks"]["bisection"]["ok"], report["checks"]["bisection"]["detail"]
    assert path_extremes(g, exact=False) == path_extremes(g, exact=True)
    assert report["checks"]["radix"]["ok"]
    assert report["checks"]["reachable"]["ok"]
    seen: dict[str, list[int]] = {}
    for _, _, ports in g.edges(data="ports"):
        for node, port in ports.items():
            seen.setdefault(node, []).append(port)
    for node, ports in seen.items():
        assert len(set(ports)) == len(ports), f"{node} reuses a port"
        assert min(ports) == 1
    return report


@pytest.mark.parametrize("k", [2, 4, 6, 8])
def test_fat_tree_closed_forms(lib, k):
    g = fat_tree(k, lib.load("tomahawk5-51t2"))
    report = assert_consistent(g)
    assert report["hosts"] == k**3 // 4
    assert report["switches"] == 5 * k * k // 4
    assert report["links"] == 3 * k**3 // 4
    assert all(d == k for n, d in g.degree if g.nodes[n]["kind"] == "switch" and
               g.nodes[n]["role"] != "core") and all(
        g.degree(n) == k for n, r in g.nodes(data="role") if r == "core")
    assert report["diameter_hops"] == 6
    assert report["bisection_bps"] == pytest.approx(k**3 / 8 * 800e9)


def test_issue_examples(lib):
    r = check(build_topology("fat_tree,k=4", lib))
    assert (r["hosts"], r["switches"], r["links"], r["ok"]) == (16, 20, 48, True)
    r = check(build_topology("hypernode,profile=gb200-nvl72", lib))
    assert (r["hosts"], r["switches"], r["links"], r["ok"]) == (72, 18, 1296, True)
    assert r["diameter_hops"] == 2 and r["max_port_use"] == 1.0
    r = check(build_topology("ai_factory,hypernodes=4,dcs=2", lib))
    assert r["ok"] and r["hosts"] == 4 * 2 * 8


@pytest.mark.parametrize("name", ["gb200-nvl72", "dgx-h100", "dgx-a100", "dgx-b200", "oex"])
def test_plane_collapse_preserves_per_gpu_bandwidth(lib, name):
    hn = lib.load(name)
    full, collapsed = hypernode(hn), hypernode(hn, collapse=True)
    for gpu in tg.hosts(full):
        full_bps = sum(d["rate_bps"] for _, _, d in full.edges(gpu, data=True))
        col_bps = sum(d["rate_bps"] for _, _, d in collapsed.edges(gpu, data=True))
        assert full_bps == pytest.approx(hn.gpu.rate_bps) == pytest.approx(col_bps)
        assert collapsed.degree(gpu) == 1
    assert check(full)["bisection_bps"] == check(collapsed)["bisection_bps"]
    assert full.number_of_edges() == hn.gpus * hn.chips
    assert sum(n for _, _, n in collapsed.edges(data="links")) == hn.gpus * hn.links_per_gpu
    assert_consistent(collapsed)


def test_dgx_h100_uneven_links(lib):
    g = hypernode(lib.load("dgx-h100"))
    assert [g.nodes[f"c{j}"]["ports"] for j in range(4)] == [40, 32, 32, 40]
    assert g.edges["g0", "c0"]["rate_bps"] == pytest.approx(5 * 200e9)


@PROPS
@given(trays=st.integers(1, 6), gpt=st.integers(1, 4), strays=st.integers(1, 3),
       cpt=st.integers(1, 2), collapse=st.booleans())
def test_oex_hypernode_properties(lib, trays, gpt, strays, cpt, collapse):
    spec = (f"hypernode,profile=oex,compute_trays={trays},gpus_per_tray={gpt},"
            f"switch_trays={strays},chips_per_tray={cpt},collapse={collapse}")
    g = build_topology(spec, lib)
    r = assert_consistent(g)
    assert r["hosts"] == trays * gpt
    assert r["switches"] == (1 if collapse else strays * cpt)
    n = trays * gpt
    assert r["bisection_bps"] == pytest.approx((n // 2) * 7.2e12)


@PROPS
@given(leaves=st.integers(1, 5), spines=st.integers(1, 4), hpl=st.integers(1, 6),
       uplinks=st.integers(1, 2), up=st.sampled_from(["100G", "400G", "800G"]))
def test_leaf_spine_properties(lib, leaves, spines, hpl, uplinks, up):
    g = build_topology(f"leaf_spine,leaves={leaves},spines={spines},hosts_per_leaf={hpl},"
                       f"uplinks={uplinks},uplink_rate={up}", lib)
    r = assert_consistent(g)
    assert r["hosts"] == leaves * hpl and r["switches"] == leaves + spines
    if leaves > 1:
        up_bps = {"100G": 100e9, "400G": 400e9, "800G": 800e9}[up]
        assert r["oversubscription"] == pytest.approx(hpl * 400e9 / (spines * uplinks * up_bps))
        assert r["diameter_hops"] == 4


@PROPS
@given(servers=st.integers(1, 7), gps=st.integers(1, 4), spg=st.integers(1, 4),
       spines=st.one_of(st.none(), st.integers(1, 3)))
def test_rail_optimized_properties(lib, servers, gps, spg, spines):
    spec = f"rail_optimized,servers={servers},gpus_per_server={gps},servers_per_group={spg}"
    if spines is not None:
        spec += f",spines={spines}"
    g = build_topology(spec, lib)
    assert_consistent(g)
    for host in tg.hosts(g):  # GPU i of every server sits on rail leaf i
        (leaf,) = list(g[host])
        assert g.nodes[leaf]["rail"] == g.nodes[host]["gpu"]


@PROPS
@given(dcs=st.integers(2, 4), leaves=st.integers(1, 3), spines=st.integers(1, 2),
       hpl=st.integers(1, 3), links=st.integers(1, 2), km=st.sampled_from([1, 80]))
def test_multi_dc_properties(lib, dcs, leaves, spines, hpl, links, km):
    g = build_topology(f"multi_dc,dcs={dcs},leaves={leaves},spines={spines},"
                       f"hosts_per_leaf={hpl},dci_links={links},distance_km={km}", lib)
    r = assert_consistent(g)
    assert r["diameter_hops"] == 7
    dci = [d for _, _, d in g.edges(data=True) if d["tier"] == "scale-across"]
    assert len(dci) == dcs * (dcs - 1) // 2
    assert all(d["latency_ns"] == pytest.approx(km * 1000 * 4.9 + 4000) for d in dci)
    assert r["worst_latency_ns"] > km * 1000 * 4.9


@PROPS
@given(hn=st.integers(1, 3), dcs=st.integers(1, 3), collapse=st.booleans(),
       profile=st.sampled_from(["dgx-h100", "dgx-a100"]), spg=st.sampled_from([None, 1, 3]))
def test_ai_factory_properties(lib, hn, dcs, collapse, profile, spg):
    spec = f"ai_factory,hypernodes={hn},dcs={dcs},collapse={collapse},profile={profile}"
    if spg:
        spec += f",servers_per_group={spg}"
    g = build_topology(spec, lib)
    r = assert_consistent(g)
    assert r["hosts"] == hn * dcs * 8
    assert set(r["tier_bandwidth_bps"]) >= {"scale-up", "scale-out"}
    assert ("scale-across" in r["tier_bandwidth_bps"]) == (dcs > 1)


def test_ai_factory_gb200_spans_rail_groups(lib):
    # 3 NVL72 = 54 trays in groups of 32: one hyper-node straddles two groups
    assert_consistent(build_topology("ai_factory,hypernodes=3,profile=gb200-nvl72", lib))


def test_max_flow_sees_a_thin_link(lib):
    g = leaf_spine(2, 1, 4, 400e9, lib.load("tomahawk5-51t2"))
    g.edges["l0", "s0"]["rate_bps"] = 100e9
    assert max_flow_bisection_bps(g) == pytest.approx(100e9)
    assert not check(g)["checks"]["bisection"]["ok"]


def test_checks_fail_on_broken_graphs(lib):
    g = build_topology("fat_tree,k=4", lib)
    g.remove_edge("p0e0h0", "p0e0")
    assert not all_hosts_reachable(g)
    r = check(g)
    assert not r["ok"] and not r["checks"]["reachable"]["ok"]
    g = build_topology("fat_tree,k=4", lib)
    g.nodes["c0"]["radix"] = 2
    r = check(g)
    assert not r["ok"] and "c0" in r["checks"]["radix"]["detail"]


def test_k64_fat_tree_size(lib):
    g = build_topology("fat_tree,k=64", lib)
    assert g.number_of_nodes() == 65536 + 5120
    assert g.number_of_edges() == 3 * 64**3 // 4


@pytest.mark.parametrize("spec,message", [
    ("fat_tree,k=3", "fat_tree: k: a fat-tree needs an even k, got 3"),
    ("fat_tree,k=0", "fat_tree: k: must be at least 2"),
    ("fat_tree,k=66", "66 ports per switch exceed the tomahawk5-51t2 radix of 64"),
    ("fat_tree,k=four", "fat_tree: k: expected an integer, got 'four'"),
    ("fat_tree,k=4,k=6", "parameter 'k' given twice"),
    ("fat_tree,k", "parameter 'k' is not key=value"),
    ("fat_tree,q=1", "fat_tree: unknown parameter 'q'"),
    ("torus,n=3", "unknown topology 'torus'"),
    ("hypernode,profile=dgx-h100,compute_trays=0", "compute_trays: must be positive, got 0"),
    ("hypernode,profile=oex,gpus_per_tray=0", "gpus_per_tray: must be positive, got 0"),
    ("hypernode,profile=oex,compute_trays=40", "needs 160 GPUs x 1 links = 160 ports"),
    ("hypernode,profile=dgx-h100,chips_per_tray=2", "links_per_chip: give it when changing"),
    ("hypernode,profile=oex,collapse=maybe", "collapse: expected true or false"),
    ("hypernode,profile=cx7-400g", "expected a hypernode profile, this is a nic"),
    ("leaf_spine,hosts_per_leaf=60,spines=8", "a leaf needs 60 host + 8 uplink ports = 68"),
    ("leaf_spine,leaves=70", "a spine needs 70 ports"),
    ("leaf_spine,leaves=0", "leaves: must be at least 1"),
    ("leaf_spine,nic=cx8-800g,switch=tomahawk4-25t6", "host rate 8e+11 b/s exceeds"),
    ("rail_optimized,servers=0", "servers: must be at least 1"),
    ("multi_dc,dcs=1", "dcs: must be at least 2"),
    ("multi_dc,distance_km=200", "200 km exceeds its reach of 120 km"),
    ("ai_factory,hypernodes=200,profile=gb200-nvl72", "a third tier would be needed"),
    ("ai_factory,hypernodes=0", "hypernodes: must be at least 1"),
])
def test_impossible_requests_fail_in_one_line(lib, spec, message):
    with pytest.raises(FabricTwinError) as info:
        build_topology(spec, lib)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_names_that_cannot_become_interfaces_are_rejected(lib):
    g = tg.new_graph("test")
    add_hypernode(g, lib.load("gb200-nvl72"), prefix="rack12row3")
    with pytest.raises(FabricTwinError, match=r"'rack12row3g0-eth18' would exceed Linux's 15"):
        tg.check_names(g)
    g = tg.new_graph("test")
    tg.add_host(g, "GPU-0")
    with pytest.raises(FabricTwinError, match="lower-case letters and digits"):
        tg.check_names(g)


def test_hypernode_without_nics_cannot_be_joined(lib, tmp_path):
    (tmp_path / "lonely.yaml").write_text(
        "kind: hypernode\nname: lonely\ngpu: {model: x, rate_bps: 200G}\ncompute_trays: 1\n"
        "gpus_per_tray: 2\nswitch_trays: 1\nchips_per_tray: 1\nchip: nvswitch3\n"
        "nic: cx7-400g\nnics_per_gpu: 0\n")
    with pytest.raises(FabricTwinError, match="lonely has no scale-out NICs"):
        build_topology("ai_factory,hypernodes=2,profile=lonely", ProfileLibrary([tmp_path]))


def test_intf_names_fit_for_every_builder_default(lib):
    for spec in ("fat_tree,k=64", "hypernode", "ai_factory,hypernodes=8,profile=gb200-nvl72,"
                 "collapse=false", "multi_dc", "rail_optimized,servers=32"):
        g = build_topology(spec, lib)
        longest = max(len(tg.intf_name(n, max(p, 1))) for n, p in g.nodes(data="ports"))
        assert longest <= tg.IFNAMSIZ
        assert math.isfinite(check(g)["worst_latency_ns"])


def test_switch_chip_capacity():
    sw = SwitchChip(name="x", radix=64, port_rate_bps=800e9, latency_ns=1)
    assert sw.capacity_bps == 51.2e12
