"""A misbehaving receiver: a NIC stuck sending PFC PAUSE (a PFC storm), for experiments.

    python -m fabrictwin.traffic.pfcstorm --intf IF --seconds S [--start-at-ns T]
        [--interval-ms 5] [--priority 3]

Sends PAUSE with maximal quanta for ``priority`` on ``intf`` every ``interval_ms`` for
``seconds`` (starting at ``T`` on CLOCK_MONOTONIC), then one resume; prints the number
of frames sent. Runs inside the host's namespace, where ``intf`` is its NIC.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.classes import LOSSLESS_PRIORITY
from fabrictwin.linux.names import check_name
from fabrictwin.linux.procs import die_with_parent
from fabrictwin.linux.rawsock import ACCEPT_NOTHING, open_raw
from fabrictwin.protocols.pfc import MAX_QUANTA, pause_frame


def storm(intf: str, seconds: float, interval_ms: float, priority: int,
          start_at_ns: int = 0) -> int:
    check_name(intf)
    mac = Path(f"/sys/class/net/{intf}/address").read_text().strip()
    xoff, xon = pause_frame(mac, {priority: MAX_QUANTA}), pause_frame(mac, {priority: 0})
    # past the qdisc, as a NIC's MAC sends these itself; send only
    with open_raw(intf, bpf=ACCEPT_NOTHING, qdisc_bypass=True, blocking=True,
                  what="PFC storm socket") as s:
        while (wait := start_at_ns - time.monotonic_ns()) > 0:
            time.sleep(min(wait / 1e9, 0.1))
        end = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < end:
            s.send(xoff)
            sent += 1
            time.sleep(interval_ms / 1e3)
        s.send(xon)
    return sent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fabrictwin.traffic.pfcstorm",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--intf", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("--priority", type=int, default=LOSSLESS_PRIORITY)
    ap.add_argument("--start-at-ns", type=int, default=0)
    args = ap.parse_args(argv)
    die_with_parent()
    try:
        if not (args.seconds > 0 and args.interval_ms > 0 and 0 <= args.priority <= 7):
            raise FabricTwinError("--seconds and --interval-ms must be positive, "
                                  "--priority 0..7")
        sent = storm(args.intf, args.seconds, args.interval_ms, args.priority, args.start_at_ns)
        print(f"pfcstorm: sent={sent}")
    except (FabricTwinError, OSError) as e:
        print(f"pfcstorm: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
