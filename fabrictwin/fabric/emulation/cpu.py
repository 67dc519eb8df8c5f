"""CPU watch during a run (the Mininet-HiFi idea): saturated CPU makes figures untrustworthy."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

#: Busy share of all cores above which a run is flagged ``cpu_bound``.
CPU_BOUND_SHARE = 0.90


def _read_stat() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


@dataclass
class CpuWatch:
    """Samples whole-machine CPU use every ``interval_s`` in a thread; a context manager."""

    interval_s: float = 0.25
    samples: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        busy0, total0 = _read_stat()
        while not self._stop.wait(self.interval_s):
            busy1, total1 = _read_stat()
            if total1 > total0:
                self.samples.append((busy1 - busy0) / (total1 - total0))
            busy0, total0 = busy1, total1

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0

    @property
    def peak(self) -> float:
        return max(self.samples, default=0.0)

    @property
    def cpu_bound(self) -> bool:
        """Saturated for at least a quarter of the samples."""
        hot = sum(s >= CPU_BOUND_SHARE for s in self.samples)
        return bool(self.samples) and hot >= max(1, len(self.samples) // 4)

    def summary(self) -> dict[str, object]:
        return {"cpu_mean": round(self.mean, 3), "cpu_peak": round(self.peak, 3),
                "cpu_bound": self.cpu_bound, "cpu_samples": len(self.samples),
                "time_s": round(len(self.samples) * self.interval_s, 2)}


