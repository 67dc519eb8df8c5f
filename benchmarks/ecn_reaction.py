#!/usr/bin/env python3
"""ECN reaction time: a queue crossing Kmin to the first CE-marked frame (root).

Usage: sudo .venv/bin/python benchmarks/ecn_reaction.py [--interval 50ms] [--runs 3]

``fat_tree,k=4`` at dilation 20000 (800 Gb/s links become 40 Mb/s), the steep ECN
policy of tests/test_controller_emulation_root.py (Kmin 5 KB, Kmax 50 KB, Pmax 1 at
800 Gb/s, so at every port) and a telemetry interval of 50 ms unless given. A 4:1
UDP incast (DSCP 26 + ECT(0), 20 Mb/s per sender: twice the receiver's link) starts
on an idle fabric.

Both ends are on CLOCK_REALTIME: the decision log's ``t`` is ``time.time()`` (for a
queue sample, the time the qdisc was read), and tcpdump's timestamps at the
receiver, written and read at nanosecond precision, are the kernel's realtime clock.

- t_kmin: the first ``ecn`` decision with a marking share > 0, i.e. the first queue
  sample above Kmin (the crossing itself lies up to one interval before it);
- t_ce: the first CE-marked lossless frame the receiver sees.

reaction = t_ce - t_kmin, in telemetry intervals; the target is within 2. Also shown:
t_first (the first incast frame at the receiver) to both. Last line:
reaction_intervals=<median over the runs>.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fabrictwin.controllers.kernel_queues import read_backlogs
from fabrictwin.controllers.policy import read_seconds
from fabrictwin.fabric import ovs
from fabrictwin.runs.controlled_fabric import (
    DILATION,
    RATE,
    SPEC,
    STEEP_ECN,
    controlled,
    incast,
    pcap_times,
)


def one_run(emu: Any, ctl: Any, interval_s: float, tmp: Path, i: int) -> dict[str, Any]:
    ovs_quiet(emu)
    t_begin = time.time()
    pcap = tmp / f"rx{i}.pcap"
    incast(emu, 3.0, pcap)
    first = pcap_times(pcap, "udp")
    ce = pcap_times(pcap, "ip[1] & 3 = 3")
    marks = [d for d in ctl.decisions()
             if d["kind"] == "ecn" and d["t"] >= t_begin and d["permille"] > 0]
    if not first or not ce or not marks:
        raise SystemExit(f"run {i}: {len(first)} frames, {len(ce)} CE, "
                         f"{len(marks)} marking decisions: nothing to time")
    m = marks[0]
    return {"t_first": first[0], "t_kmin": m["t"], "t_ce": ce[0],
            "port": f"{m['switch']}-eth{m['port']}", "backlog": m["backlog_bytes"],
            "kmin": m["kmin_bytes"], "reaction": (ce[0] - m["t"]) / interval_s,
            "frames": len(first), "ce": len(ce)}


def ovs_quiet(emu: Any, timeout_s: float = 10.0) -> None:
    """Wait until the controller has unmarked every port (queues drained)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if not any(emu_backlogs().values()):
            return


def emu_backlogs() -> dict[str, int]:
    return {d: q.backlog_bytes for d, q in read_backlogs().items() if "-eth" in d}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", default="50ms", help="telemetry interval (default 50ms)")
    p.add_argument("--runs", type=int, default=3, help="incasts to time (default 3)")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    interval_s = read_seconds(args.interval, "--interval")
    ovs.ensure_ovs()
    policy = f"telemetry_interval_s: {interval_s}\n" + STEEP_ECN.format(kmin="5KB",
                                                                         kmax="50KB")
    rows = []
    with controlled(policy) as (emu, ctl), tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            rows.append(one_run(emu, ctl, interval_s, Path(tmp), i))
    print(f"{SPEC} at dilation {DILATION:g} (40 Mb/s links), telemetry every "
          f"{interval_s * 1000:g} ms, 4:1 incast at {RATE}b/s per sender, Kmin 5 KB")
    print(f"{'run':>3} {'first frame -> Kmin seen':>24} {'Kmin seen -> first CE':>22} "
          f"{'intervals':>9}  port (backlog at sample)  CE/frames")
    for i, r in enumerate(rows):
        print(f"{i:>3} {(r['t_kmin'] - r['t_first']) * 1000:21.1f} ms "
              f"{(r['t_ce'] - r['t_kmin']) * 1000:19.1f} ms {r['reaction']:9.2f}  "
              f"{r['port']} ({r['backlog']} B > {r['kmin']} B)  {r['ce']}/{r['frames']}")
        print(f"    t_kmin={r['t_kmin']:.6f} t_ce={r['t_ce']:.9f} (CLOCK_REALTIME)")
    med = statistics.median(r["reaction"] for r in rows)
    print(f"target: within 2 intervals: {'met' if med <= 2 else 'NOT met'}")
    print(f"reaction_intervals={med:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
