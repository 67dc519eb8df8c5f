"""Calibration: what this machine's emulator itself costs, measured at the start of a run.

Two hosts on one userspace (or kernel) OVS switch, no shaping:
- ``hop_latency_ns``: one-way latency through one emulated switch hop, half the
  median ping RTT (veth + switch + veth);
- ``forward_rate_bps``: TCP throughput through that hop (iperf3, 2 s).
Results are kept in ``/run/fabrictwin/calibration.json`` (tmpfs: gone at reboot)
for ``MAX_AGE_S`` so back-to-back runs do not pay for it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass

from fabrictwin.fabric.plan import plan_emulation
from fabrictwin.fabric.probe import Capabilities
from fabrictwin.fabric.state import RUN_ROOT, run_prefix
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.topologies.clos import leaf_spine

log = logging.getLogger(__name__)
CACHE = RUN_ROOT / "calibration.json"
MAX_AGE_S = 600.0


@dataclass(frozen=True)
class Calibration:
    hop_latency_ns: float
    forward_rate_bps: float
    measured_at: float  # unix time
    datapath: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _cached(datapath: str) -> Calibration | None:
    try:
        data = json.loads(CACHE.read_text())
        cal = Calibration(**data)
    except (OSError, ValueError, TypeError):
        return None
    fresh = time.time() - cal.measured_at < MAX_AGE_S
    return cal if fresh and cal.datapath == datapath else None


def calibrate(caps: Capabilities, *, reuse: bool = True) -> Calibration:
    """Measure (or reuse a fresh measurement of) hop latency and forwarding rate."""
    from fabrictwin.fabric.network import Emulation  # imports mininet

    datapath = "kernel" if caps.kernel_datapath else "user"
    if reuse and (cal := _cached(datapath)):
        return cal
    switch = ProfileLibrary().load("tomahawk5-51t2")
    g = leaf_spine(1, 0, 2, switch.port_rate_bps, switch)  # two hosts, one switch
    g.graph["spec"] = "calibration"
    plan = plan_emulation(g, 1.0, prefix=run_prefix())
    with Emulation(plan, caps, progress=lambda _m: None) as emu:
        net = emu.net
        assert net is not None
        a, b = net.nameToNode["h0"], net.nameToNode["h1"]
        dst = plan.hosts[1].ip
        out = a.cmd(f"ping -c 30 -i 0.01 -q -n {dst}; ping -c 40 -i 0.01 -n {dst}")
        rtts = [float(x) for x in re.findall(r"time=([0-9.]+)", out)]
        # not daemonized: a server whose client never came would outlive the run
        server = b.popen(["iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.2)
            out = a.cmd(f"iperf3 -c {dst} -t 2 -J 2>/dev/null")
        finally:
            server.kill()
            server.wait()
    try:
        rate = float(json.loads(out)["end"]["sum_received"]["bits_per_second"])
    except (ValueError, KeyError):
        log.warning("calibration: iperf3 gave no result, assuming 500 Mb/s")
        rate = 500e6
    hop = statistics.median(rtts) / 2 * 1e6 if rtts else 100_000.0
    cal = Calibration(hop, rate, time.time(), datapath)
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    # atomically: a run beside this one may be reading it
    tmp = CACHE.with_name(f"{CACHE.name}.{os.getpid()}")
    tmp.write_text(json.dumps(cal.as_dict()))
    tmp.replace(CACHE)
    return cal
