"""PFC headroom of DCI ports against distance: the table by hand, verdicts, reach."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.catalogue import DCILink
from fabrictwin.hardware.dci_headroom import (
    ROCE_FRAME_BYTES,
    TABLE_DISTANCES_M,
    dci_headroom,
    dci_headroom_table,
    format_dci_table,
    lossless_reach_m,
)
from fabrictwin.hardware.headroom import pfc_headroom
from fabrictwin.hardware.profiles import ProfileLibrary

LIB = ProfileLibrary()
ZR400, ZR800 = LIB.load("zr400", "dci"), LIB.load("zr800", "dci")
TH5_BUFFER = LIB.load("tomahawk5-51t2", "switch").buffer_bytes

# One way: d x 4.9 ns/m + 2 x 2 us of transponder DSP = 8.9 / 53 / 200 / 494 us.
# Cable: 2 x one way x rate; 400 Gb/s = 50 B/ns, 800 Gb/s = 100 B/ns.
# Frames: (4200 + 20) + (64 + 20) + (4200 + 20) = 8 524 B.
# Response: 905 quanta x 512 bit / 400 Gb/s = 1158.4 ns + 2 x 1228.8 ns = 3616 ns
#   (800G keeps the 400G time): 180 800 B at 400G, 361 600 B at 800G.
BY_HAND = {
    # (link, km): (one way ns, cable B, total B)
    ("zr400", 1): (8_900, 890_000, 890_000 + 8_524 + 180_800),
    ("zr400", 10): (53_000, 5_300_000, 5_489_324),
    ("zr400", 40): (200_000, 20_000_000, 20_189_324),
    ("zr400", 100): (494_000, 49_400_000, 49_589_324),
    ("zr800", 1): (8_900, 1_780_000, 1_780_000 + 8_524 + 361_600),
    ("zr800", 10): (53_000, 10_600_000, 10_970_124),
    ("zr800", 40): (200_000, 40_000_000, 40_370_124),
    ("zr800", 100): (494_000, 98_800_000, 99_170_124),
}


def test_shipped_profiles_are_what_the_hand_numbers_assume():
    assert (ZR400.rate_bps, ZR800.rate_bps) == (400e9, 800e9)
    for dci in (ZR400, ZR800):
        assert (dci.fibre_ns_per_m, dci.equipment_latency_ns) == (4.9, 2000.0)
    assert TH5_BUFFER == 165_000_000
    assert TABLE_DISTANCES_M == (1e3, 10e3, 40e3, 100e3) and ROCE_FRAME_BYTES == 4200


@pytest.mark.parametrize(("name", "km"), sorted(BY_HAND))
def test_headroom_by_hand(name, km):
    one_way, cable, total = BY_HAND[name, km]
    h = dci_headroom(LIB.load(name, "dci"), km * 1000)
    assert h.cable_bytes == pytest.approx(cable)
    assert h.frames_bytes == 8_524
    assert h.total_bytes == total
    # the transponders count: fibre alone (pfc_headroom at 4.9 ns/m) is 2 x 4 us x rate less
    fibre_only = pfc_headroom(LIB.load(name, "dci").rate_bps, km * 1000, 4200, ns_per_m=4.9)
    assert total - fibre_only.total_bytes == pytest.approx(8_000 * h.cable_bytes / (2 * one_way),
                                                           abs=1)


def test_table_on_tomahawk5_with_64_lossless_ports():
    # 165 MB / 64 = 2 578 125 B a port; lossless needs headroom + 2 x 4200 B of it
    rows = dci_headroom_table([ZR400, ZR800], TH5_BUFFER, 64)
    assert [(r.link, r.distance_m) for r in rows] == [
        (n, d) for n in ("zr400", "zr800") for d in TABLE_DISTANCES_M]
    for r in rows:
        one_way, _cable, total = BY_HAND[r.link, int(r.distance_m / 1000)]
        assert (r.one_way_ns, r.headroom_bytes) == (pytest.approx(one_way), total)
        assert (r.buffer_bytes, r.ingress_ports, r.share_bytes) == (TH5_BUFFER, 64, 2_578_125)
    verdicts = {(r.link, r.distance_m / 1000): r.feasible for r in rows}
    assert [k for k, ok in verdicts.items() if ok] == [("zr400", 1), ("zr800", 1)]
    assert rows[0].xoff_bytes == 2_578_125 - 1_079_324
    assert rows[4].xoff_bytes == 2_578_125 - 2_150_124
    assert rows[1].xoff_bytes is None and rows[1].as_dict()["feasible"] is False


@pytest.mark.parametrize(("ports", "lossless"), [
    # share 10 312 500 B: 400G to 10 km (5 489 324 + 8 400), 800G 1 km only
    (16, {("zr400", 1), ("zr400", 10), ("zr800", 1)}),
    # share 20 625 000 B: 400G to 40 km (20 189 324 + 8 400 = 20 197 724), 800G to 10 km
    (8, {("zr400", 1), ("zr400", 10), ("zr400", 40), ("zr800", 1), ("zr800", 10)}),
    # a deep-buffer router (8 GB of HBM, 64 ports: 125 MB a port) holds all of it
    (None, {(n, km) for n in ("zr400", "zr800") for km in (1, 10, 40, 100)}),
])
def test_fewer_ports_or_a_deeper_buffer_reach_further(ports, lossless):
    buffer, n = (TH5_BUFFER, ports) if ports else (8_000_000_000, 64)
    rows = dci_headroom_table([ZR400, ZR800], buffer, n)
    assert {(r.link, int(r.distance_m / 1000)) for r in rows if r.feasible} == lossless


def test_reach_is_the_feasibility_boundary():
    for dci in (ZR400, ZR800):
        for ports in (8, 16, 64):
            reach = lossless_reach_m(dci, TH5_BUFFER, ports)
            assert 0 < reach < dci.reach_m
            inside, = dci_headroom_table([dci], TH5_BUFFER, ports, distances_m=[reach - 1])
            beyond, = dci_headroom_table([dci], TH5_BUFFER, ports, distances_m=[reach + 1])
            assert inside.feasible and not beyond.feasible
    # 2 578 125 - 8 400 - 589 324 (the transponders at 0 m) = 1 980 401 B at 490 B/m
    assert lossless_reach_m(ZR400, TH5_BUFFER, 64) == pytest.approx(1_980_401 / 490)
    assert lossless_reach_m(ZR400, 1_000_000, 8) == 0.0
    assert lossless_reach_m(ZR400, 10**12, 1) == ZR400.reach_m


def test_format_has_a_line_per_row_and_the_verdict():
    text = format_dci_table(dci_headroom_table([ZR400, ZR800], TH5_BUFFER, 64))
    lines = text.splitlines()
    assert len(lines) == 1 + 8 and lines[0].startswith("link")
    assert lines[2].split() == ["zr400", "10", "400", "53.0", "5.49", "2.58", "no"]
    assert lines[5].endswith("yes (XOFF 0.43 MB)")


@pytest.mark.parametrize(("args", "match"), [
    ((-1, 8), "buffer_bytes must be a non-negative integer"),
    ((1e9, 8), "buffer_bytes must be a non-negative integer"),
    ((10**9, 0), "ingress_ports must be a positive integer"),
    ((10**9, True), "ingress_ports must be a positive integer"),
])
def test_bad_input_is_one_line(args, match):
    for call in (lambda: dci_headroom_table([ZR400], *args),
                 lambda: lossless_reach_m(ZR400, *args)):
        with pytest.raises(FabricTwinError, match=match) as e:
            call()
        assert "\n" not in str(e.value)


def test_beyond_the_links_reach_is_refused():
    with pytest.raises(FabricTwinError, match="exceeds its reach of 120 km"):
        dci_headroom(ZR400, 150_000)
    assert dci_headroom(DCILink("x", 100e9), 0).cable_bytes == 0
