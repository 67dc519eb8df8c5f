"""CPU watch during a run (the Mininet-HiFi idea): saturated CPU makes figures untrustworthy."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

#: Busy share of all cores above which a run is flagged ``cpu_bound``.
CPU_BOUND_SHARE = 0.90


def _read_stat() -> list[tuple[int, int]]:
    """(busy, total) jiffies of each core from /proc/stat."""
    cores = []
    with open("/proc/stat") as f:
        for line in f:
            name, *rest = line.split()
            if name.startswith("cpu") and name != "cpu":
                fields = [int(x) for x in rest]
                idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
                cores.append((sum(fields) - idle, sum(fields)))
    return cores


@dataclass
class CpuWatch:
    """Samples whole-machine CPU use every ``interval_s`` in a thread; a context manager."""

    interval_s: float = 0.25
    samples: list[float] = field(default_factory=list)  # whole machine
    hottest: list[float] = field(default_factory=list)  # busiest core
    times_ns: list[int] = field(default_factory=list)  # time.monotonic_ns() of each sample

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        before = _read_stat()
        while not self._stop.wait(self.interval_s):
            after = _read_stat()
            pairs = list(zip(before, after, strict=False))  # a core may go offline
            shares = [(b1 - b0) / (t1 - t0) for (b0, t0), (b1, t1) in pairs if t1 > t0]
            if shares:
                busy = sum(b1 - b0 for (b0, _), (b1, _) in pairs)
                total = sum(t1 - t0 for (_, t0), (_, t1) in pairs)
                self.samples.append(busy / total)
                self.hottest.append(max(shares))
                self.times_ns.append(time.monotonic_ns())
            before = after

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
        """A core saturated for at least a quarter of the samples.

        One core suffices: the userspace datapath forwards every port from one
        ovs-vswitchd thread, so it saturates one core while the machine looks half idle.
        """
        hot = sum(s >= CPU_BOUND_SHARE for s in self.hottest)
        return bool(self.hottest) and hot >= max(1, len(self.hottest) // 4)

    def window(self, start_ns: int, end_ns: int) -> CpuWatch:
        """The samples taken between two monotonic instants (e.g. while traffic ran)."""
        keep = [i for i, t in enumerate(self.times_ns)
                if start_ns <= t <= end_ns + int(self.interval_s * 1e9)]
        return CpuWatch(self.interval_s, [self.samples[i] for i in keep],
                        [self.hottest[i] for i in keep], [self.times_ns[i] for i in keep])

    def summary(self) -> dict[str, object]:
        return {"cpu_mean": round(self.mean, 3), "cpu_peak": round(self.peak, 3),
                "cpu_hottest_core_mean": round(sum(self.hottest) / len(self.hottest), 3)
                if self.hottest else 0.0,
                "cpu_bound": self.cpu_bound, "cpu_samples": len(self.samples),
                "time_s": round(len(self.samples) * self.interval_s, 2)}


