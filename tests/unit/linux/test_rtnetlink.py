"""Qdisc statistics from rtnetlink: the parser on crafted messages, and (root) the same
figures ``tc -s -j qdisc show`` prints for queues that carried real frames."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess

import pytest

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.rtnetlink import (
    NLMSG_DONE,
    NLMSG_ERROR,
    RTM_NEWQDISC,
    TC_H_ROOT,
    QdiscReader,
    parse_dump,
    tc_handle,
)


def rta(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nlmsg(kind: int, body: bytes, seq: int = 7) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 2, seq, 0) + body


def qdisc_msg(ifindex: int, handle: int, parent: int, kind: str, *, seq: int = 7,
              basic=(1234, 5), queue=(2, 8400, 3, 0, 9)) -> bytes:
    stats2 = rta(1, struct.pack("=QI", *basic)) + rta(3, struct.pack("=IIIII", *queue))
    body = (struct.pack("=BxxxiIII", 0, ifindex, handle, parent, 1)
            + rta(1, kind.encode() + b"\0") + rta(7, stats2) + rta(2, b"\0" * 12))
    return nlmsg(RTM_NEWQDISC, body, seq)


def test_parse_reads_kind_counters_and_ids():
    buf = (qdisc_msg(4, 0x10000, TC_H_ROOT, "htb")
           + qdisc_msg(4, 0x110000, 0x10011, "tbf", basic=(2**40, 77), queue=(1, 4200, 6, 0, 0))
           + nlmsg(NLMSG_DONE, struct.pack("=i", 0)))
    qs, done = parse_dump(buf, 7)
    assert done and len(qs) == 2
    htb, tbf = qs
    assert (htb.ifindex, htb.kind, htb.root, htb.bytes, htb.packets) == (4, "htb", True, 1234, 5)
    assert (htb.qlen, htb.backlog, htb.drops) == (2, 8400, 3)
    assert (tbf.handle, tbf.root, tbf.bytes, tbf.backlog, tbf.drops) == (
        tc_handle("11:"), False, 2**40, 4200, 6)


def test_a_dump_may_span_chunks_and_old_answers_are_skipped():
    first, done = parse_dump(qdisc_msg(1, 0, TC_H_ROOT, "noqueue", seq=6)
                             + qdisc_msg(2, 0, TC_H_ROOT, "noqueue"), 7)
    assert not done and [q.ifindex for q in first] == [2]
    rest, done = parse_dump(nlmsg(NLMSG_DONE, b"\0" * 4), 7)
    assert done and rest == []


def test_errors_are_one_line():
    with pytest.raises(FabricTwinError, match="netlink error 1$"):
        parse_dump(nlmsg(NLMSG_ERROR, struct.pack("=i", -1) + b"\0" * 16))
    with pytest.raises(FabricTwinError, match="truncated"):
        parse_dump(qdisc_msg(1, 0, TC_H_ROOT, "htb")[:-8])


@pytest.mark.parametrize("text, value", [("11:", 0x110000), ("1:", 0x10000), ("1:11", 0x10011),
                                         ("ffff:", 0xFFFF0000), (":", 0)])
def test_tc_handles(text, value):
    assert tc_handle(text) == value


def test_bad_handle():
    with pytest.raises(FabricTwinError, match="hex major:minor"):
        tc_handle("x1:")


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_the_dump_agrees_with_tc_on_queues_that_carried_frames():
    a, b = "ftnqt0", "ftnqt1"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for dev in (a, b):
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        subprocess.run(["tc", "qdisc", "add", "dev", a, "root", "handle", "1:", "htb",
                        "default", "11"], check=True)
        subprocess.run(["tc", "class", "add", "dev", a, "parent", "1:", "classid", "1:11",
                        "htb", "rate", "1mbit"], check=True)
        subprocess.run(["tc", "qdisc", "add", "dev", a, "parent", "1:11", "handle", "11:",
                        "tbf", "rate", "1mbit", "burst", "1600", "limit", "20000"], check=True)
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((a, 0))
            frame = b"\xff" * 6 + b"\x02" * 6 + b"\x88\xb5" + b"\0" * 1000
            for _ in range(60):  # 60 KB into a 1 Mb/s, 20 KB queue: some wait, some drop
                with contextlib.suppress(OSError):
                    s.send(frame)
        tc = {(q["dev"], q["kind"]): q for q in json.loads(subprocess.run(
            ["tc", "-s", "-j", "qdisc", "show"], capture_output=True, text=True,
            check=True).stdout) if q["dev"] == a}
        with QdiscReader() as r:
            nl = {(r.name(q.ifindex), q.kind): q for q in r.dump() if r.name(q.ifindex) == a}
        assert set(nl) == set(tc) == {(a, "htb"), (a, "tbf")}
        tbf = nl[(a, "tbf")]
        assert tbf.handle == tc_handle("11:") and tbf.drops > 0 and tbf.backlog > 0
        for key, q in nl.items():
            t = tc[key]
            # the queue drains between the two reads: sent and backlog move, drops do not
            assert q.drops == t["drops"]
            assert abs(q.bytes - t["bytes"]) <= 3 * 1014
            assert abs(q.backlog - t["backlog"]) <= 3 * 1014
            assert q.root == bool(t.get("root"))
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


def test_keep_skips_qdiscs_before_reading_them():
    buf = (qdisc_msg(4, 0x10000, TC_H_ROOT, "htb") + qdisc_msg(4, 0x110000, 0x10011, "tbf")
           + qdisc_msg(5, 0, TC_H_ROOT, "noqueue") + nlmsg(NLMSG_DONE, b"\0" * 4))
    leaves, _ = parse_dump(buf, 7, lambda handle, _parent: handle == tc_handle("11:"))
    roots, _ = parse_dump(buf, 7, lambda _handle, parent: parent == TC_H_ROOT)
    assert [q.kind for q in leaves] == ["tbf"]
    assert [q.kind for q in roots] == ["htb", "noqueue"]
