#!/usr/bin/env python3
"""Reading every switch queue once: the rtnetlink dump vs ``tc -s -j qdisc show`` (root).

Usage: sudo .venv/bin/python benchmarks/qdisc_read.py [--ports 80] [--reads 50]

Builds --ports veth pairs (``ftbq<i>a``/``ftbq<i>b``) and gives each ``a`` side what an
emulated switch port with PFC has: an HTB root, a class and a TBF leaf under it. Then,
alternating so both see the same machine load, it reads all qdiscs --reads times each
way: iproute2 (``tc -s -j qdisc show``, a process, JSON parsed, as the PFC daemon and the
controller's telemetry did) and fabrictwin's ``QdiscReader.dump()`` (one netlink socket
kept open), all qdiscs and only the TBF leaves (what the PFC daemon reads each poll).
Both must see the same qdiscs. Prints the median per read of each and, last,
``ratio=<netlink leaves / tc>`` (below 1: netlink is faster). Everything it created is
deleted at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fabrictwin.linux.rtnetlink import QdiscReader, tc_handle  # noqa: E402

PREFIX = "ftbq"
LEAF = tc_handle("11:")


def build(n: int) -> list[str]:
    """``n`` veth pairs with an HTB + TBF lossless class on one side, in one tc batch."""
    links = "".join(f"link add {PREFIX}{i}a type veth peer name {PREFIX}{i}b\n"
                    f"link set {PREFIX}{i}a up\nlink set {PREFIX}{i}b up\n" for i in range(n))
    subprocess.run(["ip", "-batch", "-"], input=links, text=True, check=True)
    tc = "".join(f"qdisc add dev {PREFIX}{i}a root handle 1: htb default 11\n"
                 f"class add dev {PREFIX}{i}a parent 1: classid 1:11 htb rate 10mbit\n"
                 f"qdisc add dev {PREFIX}{i}a parent 1:11 handle 11: tbf rate 10mbit "
                 "burst 4222 limit 600000\n" for i in range(n))
    subprocess.run(["tc", "-batch", "-"], input=tc, text=True, check=True)
    return [f"{PREFIX}{i}a" for i in range(n)]


def remove() -> None:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}
    ours = sorted(n for n in names if n.startswith(PREFIX) and n.endswith("a"))
    if ours:
        subprocess.run(["ip", "-batch", "-"], input="".join(f"link del {n}\n" for n in ours),
                       text=True, check=False)


def via_tc() -> set[tuple[str, str]]:
    out = subprocess.run(["tc", "-s", "-j", "qdisc", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {(q["dev"], q["kind"]) for q in json.loads(out) if q["dev"].startswith(PREFIX)}


def via_netlink(reader: QdiscReader, leaves: bool = False) -> set[tuple[str, str]]:
    """All qdiscs, or (``leaves``) only the TBF leaves the PFC daemon reads."""
    keep = (lambda h, _p: h == LEAF) if leaves else None
    return {(name, q.kind) for q in reader.dump(keep)
            if (name := reader.name(q.ifindex)).startswith(PREFIX)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ports", type=int, default=80, help="emulated switch ports (default 80)")
    p.add_argument("--reads", type=int, default=50, help="reads each way (default 50)")
    args = p.parse_args()
    if not 1 <= args.ports <= 4000 or args.reads < 1:
        sys.exit("qdisc_read: error: --ports must be 1..4000 and --reads at least 1")
    if os.geteuid() != 0:
        sys.exit("qdisc_read: needs root (run with sudo)")
    remove()  # a killed earlier run
    try:
        build(args.ports)
        times: dict[str, list[float]] = {"tc": [], "netlink": [], "leaves": []}
        with QdiscReader() as reader:
            seen_tc, seen_nl = via_tc(), via_netlink(reader)
            if seen_tc != seen_nl:
                sys.exit(f"qdisc_read: the two reads differ: {sorted(seen_tc ^ seen_nl)[:4]}")
            for _ in range(args.reads):
                for name, read in (("tc", via_tc), ("netlink", lambda: via_netlink(reader)),
                                   ("leaves", lambda: via_netlink(reader, leaves=True))):
                    t0 = time.perf_counter()
                    read()
                    times[name].append(time.perf_counter() - t0)
    except KeyboardInterrupt:
        sys.exit("qdisc_read: interrupted (cleaned up)")
    finally:
        remove()
    tc_ms, nl_ms, leaf_ms = (statistics.median(times[k]) * 1e3
                             for k in ("tc", "netlink", "leaves"))
    print(f"{args.ports} ports, {len(seen_tc)} qdiscs of ours, {args.reads} reads each way")
    print(f"tc -s -j qdisc show + JSON:        {tc_ms:8.3f} ms per read (median)")
    print(f"rtnetlink dump, every qdisc:       {nl_ms:8.3f} ms  ratio {nl_ms / tc_ms:.3f}")
    print(f"rtnetlink dump, the TBF leaves:    {leaf_ms:8.3f} ms  (what the PFC daemon reads)")
    print(f"ratio={leaf_ms / tc_ms:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
