"""The scale-across experiment's pure parts and its refusals before any work."""

from __future__ import annotations

import pytest

from fabrictwin.fabric.pfc.setup import DCI_TIER
from fabrictwin.runs.scale_across import cases, dci_class, plot
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli


def test_cases_are_every_distance_and_variant_nearest_first():
    got = cases([100, 1, 10], ["dcqcn", "dcqcn-rtt"])
    assert [(c.distance_km, c.cc) for c in got] == [
        (1, "dcqcn"), (1, "dcqcn-rtt"), (10, "dcqcn"), (10, "dcqcn-rtt"),
        (100, "dcqcn"), (100, "dcqcn-rtt")]
    assert "distance_km=10" in got[2].spec


def test_a_dci_whose_headroom_fits_is_lossless_else_lossy_with_the_reason():
    near = build_topology(cases([10], ["dcqcn"], "zr800")[0].spec)
    opts, klass = dci_class(near, 1_000_000)
    assert klass == "lossless" and opts.lossy_tiers == ()
    # 100 km of 800ZR needs ~99 MB per port; 165 MB over 3 ports is 55 MB each
    far = build_topology(cases([100], ["dcqcn"], "zr800")[0].spec)
    opts, klass = dci_class(far, 1_000_000)
    assert opts.lossy_tiers == (DCI_TIER,)
    assert klass.startswith("lossy: 100 km of zr800 needs 99.2 MB")
    assert "reaches 54.9 km" in klass


def test_the_plot_is_written(tmp_path):
    rows = [{"distance_km": km, "cc": cc, "busbw_GBps": bw, "model_busbw_GBps": 30.0,
             "max_queue_bytes": q} for km, cc, bw, q in
            [(1, "dcqcn", 28.0, 3e6), (10, "dcqcn", 20.0, 9e6), (1, "dcqcn-rtt", 28.0, 2e6),
             (10, "dcqcn-rtt", None, None)]]  # a failed row plots as a gap
    path = plot(rows, tmp_path / "x.png")
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--distance-km", "1,x"], "--distance-km: expected numbers"),
    (["--distance-km", "0"], "--distance-km: expected distances in (0, 1000] km"),
    (["--distance-km", "nan"], "--distance-km: expected distances"),
    (["--distance-km", "500"], "zr400"),  # beyond the 400ZR's reach, from the catalogue
    (["--cc", "dcqcn,cubic"], "--cc: unknown 'cubic'"),
    (["--size", "1Q"], "--size"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    out = run_cli("experiment", "scale-across", *args, "--out", str(tmp_path / "o"))
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert message in line
    assert not (tmp_path / "o").exists()
