"""An emulated run mapped back to hardware time, beside the analytical prediction.

The emulator runs the fabric time-dilated: every rate divided and every latency
multiplied by ``dilation``, so the replica is the hardware in slow motion. Its own
overheads (time to forward a packet through a software switch, fixed set-up costs)
are measured by calibration runs, in emulator wall-clock time, and are not part of
the hardware being modelled. So:

    hardware_time = (measured - fixed - hops x per_hop) / dilation

where ``hops`` is the number of switch traversals on the run's critical path. The
result is set beside the model's prediction for the same system and collective.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fabrictwin.errors import FabricTwinError


def _number(data: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None:
        raise FabricTwinError(f"{where}.{key}: missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FabricTwinError(f"{where}.{key}: expected a number, got {value!r}")
    if value < 0:
        raise FabricTwinError(f"{where}.{key}: must not be negative, got {value}")
    return float(value)


def project_run(measured: Mapping[str, Any], dilation: float, calibration: Mapping[str, Any],
                predicted_time_s: float | None = None) -> dict[str, Any]:
    """Hardware time of one emulated run, and its difference from the prediction.

    ``measured``: ``time_s`` (emulator wall-clock of the collective), optional ``hops``
    (switch traversals on the critical path, default 0) and anything else, carried
    through. ``calibration``: ``per_hop_s`` and ``fixed_s`` (emulator wall-clock,
    default 0), optional ``cpu_bound`` (the emulator could not keep up: the figure
    is flagged untrustworthy). ``predicted_time_s``: the analytical model's time.
    """
    if isinstance(dilation, bool) or not isinstance(dilation, int | float) or not dilation > 0:
        raise FabricTwinError(f"dilation: must be a positive number, got {dilation!r}")
    time_s = _number(measured, "time_s", "measured")
    hops = _number(measured, "hops", "measured", 0)
    per_hop_s = _number(calibration, "per_hop_s", "calibration", 0)
    fixed_s = _number(calibration, "fixed_s", "calibration", 0)
    overhead_s = fixed_s + hops * per_hop_s
    if overhead_s > time_s:
        raise FabricTwinError(f"calibration: overheads of {overhead_s:.6g} s exceed the "
                              f"measured {time_s:.6g} s; recalibrate")
    hardware_s = (time_s - overhead_s) / dilation
    out: dict[str, Any] = {**measured, "dilation": float(dilation),
                           "emulator_overhead_s": overhead_s, "hardware_time_s": hardware_s,
                           "trustworthy": not bool(calibration.get("cpu_bound", False))}
    if predicted_time_s is not None:
        if not predicted_time_s > 0:
            raise FabricTwinError(f"predicted_time_s: must be positive, got {predicted_time_s}")
        diff = hardware_s - predicted_time_s
        out.update(predicted_time_s=float(predicted_time_s), difference_s=diff,
                   difference_pct=100 * diff / predicted_time_s)
    return out
