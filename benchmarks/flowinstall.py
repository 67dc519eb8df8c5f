#!/usr/bin/env python3
"""Flow install: proactive fabrictwin controller vs a reactive learning switch (root).

Usage: sudo .venv/bin/python benchmarks/flowinstall.py [--k 8] [--dilation D]

Both sides bring up the same emulated fat-tree (userspace OVS, fail-mode secure,
static ARP in the hosts) under an os-ken controller: fabrictwin's (every route and
ECMP group pushed when a switch connects) and benchmarks/reactive_app.py (packet-in,
learn MAC -> port, flood on a spanning tree). The time measured runs from the first
switch connecting to its controller (the controller's own log) to every host having
reached every other (all-pairs fping, repeated until no pair fails). The fabrictwin
side first waits for every switch's install barrier, as `fabrictwin emulate` does.
Last line: ratio=<fabrictwin / reactive>, in every run. A side that has not converged
within DEADLINE_S (the reactive switch's convergence hangs on packet-ins lost under
load) stops there: its time is then a lower bound, and the ratio a bound, printed as
``ratio<=`` (the baseline did not converge) or ``ratio>=`` (fabrictwin did not).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabrictwin.controllers.decisions import read_decisions
from fabrictwin.controllers.process import listening, start_controller
from fabrictwin.fabric.state import RUN_ROOT
from fabrictwin.linux.procs import free_port
from fabrictwin.runs.session import QUEUE_SOURCE, prepare
from fabrictwin.topologies.registry import build_topology

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 300.0


@contextmanager
def reactive(spec: str, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/reactive_app.py"),
                             "--topo", spec, "--port", str(port), "--log", str(log_path)],
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not listening(port, pid=proc.pid):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("reactive controller did not start listening")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def converge(emu: Any, first_connect: Callable[[], float]) -> dict[str, float]:
    """Repeat the all-pairs check until it passes; times from the first connection."""
    tries, failed = 0, -1
    t_start = time.monotonic()
    while True:
        tries += 1
        reach = emu.reachability(2.0)
        failed = len(reach.failed)
        if reach.ok or time.monotonic() - t_start > DEADLINE_S:
            break
    t_end = time.time()
    return {"up_s": t_end - first_connect(), "checks": tries, "failed_pairs": failed,
            "check_s": time.monotonic() - t_start}


def one_side(kind: str, spec: str, dilation: float | None) -> dict[str, float]:
    from fabrictwin.fabric.network import Emulation

    g = build_topology(spec)
    caps, _cal, plan = prepare(g, dilation)
    run_dir = RUN_ROOT / f"ft{os.getpid()}"
    log_path = run_dir / f"{kind}.jsonl"
    port = free_port()
    try:
        if kind == "fabrictwin":
            ctx: Any = start_controller(spec, port, log=log_path, dilation=plan.dilation,
                                        queue_source=QUEUE_SOURCE)
        else:
            ctx = reactive(spec, port, log_path)
        with ctx as ctl:
            pid = ctl.proc.pid if kind == "fabrictwin" else ctl.pid
            event = "switch_up" if kind == "fabrictwin" else "switch_connect"

            def first_connect() -> float:
                return min(d["t"] for d in read_decisions(log_path) if d["kind"] == event)

            with Emulation(plan, caps, progress=lambda _m: None,
                           controller=f"tcp:127.0.0.1:{port}", extra_pids=(pid,)) as emu:
                if kind == "fabrictwin":
                    ctl.wait_switches(len(plan.switches), timeout_s=DEADLINE_S)
                out = converge(emu, first_connect)
                out["dilation"] = plan.dilation
                return out
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--dilation", type=float, help="default: chosen as `fabrictwin emulate` does")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root")
    spec = f"fat_tree,k={args.k}"
    results = {kind: one_side(kind, spec, args.dilation) for kind in ("fabrictwin", "reactive")}
    print(f"{spec}: from first switch connection to all pairs reachable")
    print(f"{'controller':<12} {'up_s':>8} {'checks':>7} {'failed_pairs':>13} {'check_s':>8}")
    for kind, r in results.items():
        print(f"{kind:<12} {r['up_s']:8.2f} {r['checks']:7d} {r['failed_pairs']:13d} "
              f"{r['check_s']:8.2f}")
    ours, theirs = results["fabrictwin"], results["reactive"]
    print(ratio_line(ours["up_s"], theirs["up_s"], not ours["failed_pairs"],
                     not theirs["failed_pairs"]))
    return 0 if not ours["failed_pairs"] else 1


def ratio_line(ours_s: float, theirs_s: float, ours_done: bool, theirs_done: bool) -> str:
    """The last line, always: an unconverged side's time is a lower bound on its own.

    >>> ratio_line(3.0, 300.0, True, False)
    'ratio<=0.010 (reactive not converged within 300 s: its time is a lower bound)'
    """
    value = ours_s / theirs_s
    if ours_done and theirs_done:
        return f"ratio={value:.3f}"
    if ours_done:
        return (f"ratio<={value:.3f} (reactive not converged within {DEADLINE_S:g} s: its "
                "time is a lower bound)")
    if theirs_done:
        return (f"ratio>={value:.3f} (fabrictwin not converged within {DEADLINE_S:g} s: "
                "its time is a lower bound)")
    return f"ratio~{value:.3f} (neither converged within {DEADLINE_S:g} s: no bound)"


if __name__ == "__main__":
    raise SystemExit(main())
