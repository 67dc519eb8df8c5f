"""An emulated, time-dilated run mapped back to hardware time beside the prediction."""

from __future__ import annotations

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.model import build_system, predict
from fabrictwin.model.projection import project_run


def test_removes_overheads_then_undoes_dilation():
    out = project_run({"time_s": 2.0, "hops": 100, "size_bytes": 1 << 20}, 1000.0,
                      {"per_hop_s": 1e-3, "fixed_s": 0.5})
    assert out["hardware_time_s"] == pytest.approx((2.0 - 0.5 - 0.1) / 1000)
    assert out["emulator_overhead_s"] == pytest.approx(0.6)
    assert out["size_bytes"] == 1 << 20 and out["trustworthy"] is True
    assert "difference_pct" not in out


def test_beside_the_prediction(lib):
    system = build_system(lib.load("dgx-h100"), 8)
    predicted = float(predict(system, "all_reduce", [1 << 30]).time_s[0])
    dilation, per_hop, hops, fixed = 5000.0, 2e-4, 14, 0.01
    # an emulator that reproduced the hardware exactly, plus its own overheads
    measured = {"time_s": predicted * 1.1 * dilation + hops * per_hop + fixed, "hops": hops}
    out = project_run(measured, dilation, {"per_hop_s": per_hop, "fixed_s": fixed}, predicted)
    assert out["hardware_time_s"] == pytest.approx(predicted * 1.1)
    assert out["difference_s"] == pytest.approx(predicted * 0.1)
    assert out["difference_pct"] == pytest.approx(10.0)


def test_cpu_bound_runs_are_flagged():
    out = project_run({"time_s": 1.0}, 10, {"cpu_bound": True})
    assert out["trustworthy"] is False and out["hardware_time_s"] == pytest.approx(0.1)


@pytest.mark.parametrize("args,fragment", [
    (({"time_s": 1.0}, 0, {}), "dilation: must be a positive number"),
    (({}, 10, {}), "measured.time_s: missing"),
    (({"time_s": "1"}, 10, {}), "measured.time_s: expected a number"),
    (({"time_s": 1.0}, 10, {"per_hop_s": -1}), "calibration.per_hop_s: must not be negative"),
    (({"time_s": 1.0, "hops": 10}, 10, {"per_hop_s": 1}), "exceed the measured"),
    (({"time_s": 1.0}, 10, {}, 0.0), "predicted_time_s: must be positive"),
])
def test_bad_input(args, fragment):
    with pytest.raises(FabricTwinError, match=fragment):
        project_run(*args)
