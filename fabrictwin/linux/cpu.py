"""CPU watch during a run (the Mininet-HiFi idea): saturated CPU makes figures untrustworthy."""

from __future__ import annotations

import os
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


def _read_procs() -> dict[int, tuple[str, int]]:
    """{pid: (command name, user+system clock ticks)} of every process now."""
    procs = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                raw = f.read()
        except OSError:  # gone meanwhile
            continue
        # comm may hold spaces and parentheses: it ends at the last ')'
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()
        procs[int(entry.name)] = (comm, int(rest[11]) + int(rest[12]))
    return procs


def hottest_process(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]],
                    seconds: float, ticks_per_s: int = 100) -> tuple[str, float]:
    """(name, cores) of the process that used the most CPU between two readings.

    >>> hottest_process({1: ("a", 0), 2: ("b", 10)}, {1: ("a", 50), 2: ("b", 20)}, 1.0)
    ('a', 0.5)
    """
    best, share = "", 0.0
    for pid, (comm, ticks) in after.items():
        if pid in before and before[pid][0] == comm and seconds > 0:
            used = (ticks - before[pid][1]) / ticks_per_s / seconds
            if used > share:
                best, share = comm, used
    return best, round(share, 3)


@dataclass
class CpuWatch:
    """Samples whole-machine CPU use every ``interval_s`` in a thread; a context manager."""

    interval_s: float = 0.25
    samples: list[float] = field(default_factory=list)  # whole machine
    hottest: list[float] = field(default_factory=list)  # busiest core
    times_ns: list[int] = field(default_factory=list)  # time.monotonic_ns() of each sample
    #: (name, cores used) of the busiest process in each sample: what set a cpu_bound limit
    hogs: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        before, procs, then = _read_stat(), _read_procs(), time.monotonic()
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(self.interval_s):
            after, now_procs, now = _read_stat(), _read_procs(), time.monotonic()
            pairs = list(zip(before, after, strict=False))  # a core may go offline
            shares = [(b1 - b0) / (t1 - t0) for (b0, t0), (b1, t1) in pairs if t1 > t0]
            if shares:
                busy = sum(b1 - b0 for (b0, _), (b1, _) in pairs)
                total = sum(t1 - t0 for (_, t0), (_, t1) in pairs)
                self.samples.append(busy / total)
                self.hottest.append(max(shares))
                self.times_ns.append(time.monotonic_ns())
                self.hogs.append(hottest_process(procs, now_procs, now - then, ticks))
            before, procs, then = after, now_procs, now

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
                        [self.hottest[i] for i in keep], [self.times_ns[i] for i in keep],
                        [self.hogs[i] for i in keep if i < len(self.hogs)])

    def limit(self) -> str | None:
        """Which process held a core when the run was cpu_bound, in words; None otherwise.

        >>> w = CpuWatch(hottest=[0.99] * 4, hogs=[("ovs-vswitchd", 0.97)] * 3 + [("a", 0.5)])
        >>> w.limit()
        'ovs-vswitchd used 0.97 of a core (the busiest process in 3 of 4 samples)'
        """
        if not self.cpu_bound or not self.hogs:
            return None
        names = [n for n, _ in self.hogs]
        name = max(set(names), key=names.count)
        mine = [c for n, c in self.hogs if n == name]
        return (f"{name} used {sum(mine) / len(mine):.2f} of a core (the busiest process "
                f"in {len(mine)} of {len(self.hogs)} samples)")

    def summary(self) -> dict[str, object]:
        return {"cpu_mean": round(self.mean, 3), "cpu_peak": round(self.peak, 3),
                "cpu_hottest_core_mean": round(sum(self.hottest) / len(self.hottest), 3)
                if self.hottest else 0.0,
                "cpu_bound": self.cpu_bound, "cpu_limit": self.limit(),
                "cpu_samples": len(self.samples),
                "time_s": round(len(self.samples) * self.interval_s, 2)}


