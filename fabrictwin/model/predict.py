"""The model's answer for a collective over sizes: time, algbw, busbw, and what ran."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabrictwin.errors import FabricTwinError
from fabrictwin.model.algorithm import choose, options
from fabrictwin.model.collectives import busbw_factor, check_collective
from fabrictwin.model.system import System


@dataclass(frozen=True)
class Prediction:
    """Arrays over sizes; ``algorithm``/``protocol``/``bottleneck`` say what set each time."""

    collective: str
    ranks: int
    size_bytes: np.ndarray
    time_s: np.ndarray
    algbw_GBps: np.ndarray  # nccl-tests: GB/s = 1e9 bytes/s
    busbw_GBps: np.ndarray
    algorithm: np.ndarray
    protocol: np.ndarray
    bottleneck: np.ndarray
    #: per size: the host's measured per-call floor, not the device, set the time
    floor_bound: np.ndarray | None = None

    def row(self, i: int = 0) -> dict[str, object]:
        """One size as plain data (JSON-ready)."""
        floored = self.floor_bound is not None and bool(self.floor_bound[i])
        return {"size_bytes": int(self.size_bytes[i]), "time_us": float(self.time_s[i] * 1e6),
                "algbw_GBps": float(self.algbw_GBps[i]), "busbw_GBps": float(self.busbw_GBps[i]),
                "algorithm": str(self.algorithm[i]), "protocol": str(self.protocol[i]),
                "bottleneck": "host call floor" if floored else str(self.bottleneck[i])}


def predict(system: System, collective: str, size_bytes: np.ndarray | list[int] | int,
            algorithm: str = "auto", protocol: str = "auto") -> Prediction:
    """Time of ``collective`` of each size on ``system``.

    ``algorithm``/``protocol`` "auto" take what NCCL would pick for each size
    (:mod:`~fabrictwin.model.algorithm`); sizes are nccl-tests' S. With a measured
    per-call floor (``System.call_floor_s``) no size takes less: nccl-tests times
    back-to-back calls, which average no faster than the host issues them, whatever
    the device needs (NCCL picks its algorithm by device time alone, so does this).
    """
    check_collective(collective)
    sizes = np.atleast_1d(np.asarray(size_bytes, dtype=float))
    if sizes.ndim != 1 or not np.all(sizes > 0) or not np.all(np.isfinite(sizes)):
        raise FabricTwinError("size: every size must be a positive number of bytes")
    choices = options(system, collective, algorithm, protocol)
    pick = choose(sizes, choices)
    times = np.array([c.time_s(sizes) for c in choices])
    device_s = np.take_along_axis(times, pick[None, :], axis=0)[0]
    time_s = np.maximum(device_s, system.call_floor_s)
    # a lone GPU with no launch cost takes no time at all
    algbw = np.divide(sizes, time_s, out=np.full_like(sizes, np.inf), where=time_s > 0) / 1e9
    return Prediction(
        collective=collective, ranks=system.ranks, size_bytes=sizes, time_s=time_s,
        algbw_GBps=algbw, busbw_GBps=algbw * busbw_factor(collective, system.ranks),
        algorithm=np.array([c.algorithm for c in choices])[pick],
        protocol=np.array([c.protocol for c in choices])[pick],
        bottleneck=np.array([c.bottleneck for c in choices])[pick],
        floor_bound=device_s < system.call_floor_s)


def size_sweep(min_bytes: int, max_bytes: int, factor: int = 2) -> np.ndarray:
    """nccl-tests' sizes: ``min``, then times ``factor`` while not above ``max`` (-f 2)."""
    if min_bytes <= 0 or max_bytes < min_bytes:
        raise FabricTwinError(f"sizes: need 0 < min <= max, got {min_bytes}:{max_bytes}")
    if factor < 2:
        raise FabricTwinError(f"sizes: factor must be at least 2, got {factor}")
    sizes = [min_bytes]
    while sizes[-1] * factor <= max_bytes:
        sizes.append(sizes[-1] * factor)
    return np.array(sizes, dtype=float)
