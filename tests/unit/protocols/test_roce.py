"""RoCEv2 frames: scapy round trips, ICRC (ours vs scapy's), the fast path's patching, tshark."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.roce import AETH, BTH, CNPPadding
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from fabrictwin.protocols.roce import (
    AETH_ACK,
    AETH_NAK_PSN_SEQ,
    CNP_OPCODE,
    DSCP_CNP,
    DSCP_LOSSLESS,
    ECN_ECT0,
    ECN_NOT_ECT,
    RC_ACK,
    RC_RDMA_WRITE_FIRST,
    RC_RDMA_WRITE_LAST,
    RC_RDMA_WRITE_MIDDLE,
    RC_RDMA_WRITE_ONLY,
    RETH,
    ROCE_UDP_PORT,
    ack_frame,
    cnp_frame,
    icrc,
    icrc_ok,
    template,
    write_frame,
)
from fabrictwin.traffic.fastpath import (
    ControlFrames,
    Endpoint,
    Layout,
    WriteStream,
    first_psn,
    pattern,
    remote_va,
)

A = Endpoint("02:00:00:00:00:01", "10.0.0.1")
B = Endpoint("02:00:00:00:00:02", "10.0.0.2")
KW = dict(src_mac=A.mac, dst_mac=B.mac, src_ip=A.ip, dst_ip=B.ip, sport=0xC123)


def scapy_icrc(frame: bytes) -> int:
    """The ICRC scapy computes for the frame (rebuilt with the ICRC left to scapy)."""
    pkt = Ether(frame)
    pkt[BTH].icrc = None
    return Ether(bytes(pkt))[BTH].icrc


def stored_icrc(frame: bytes) -> int:
    return Ether(frame)[BTH].icrc


def as_scapy(crc: int) -> int:
    """Scapy shows the ICRC as its wire bytes read big-endian; the CRC is sent little-endian."""
    return int.from_bytes(crc.to_bytes(4, "little"), "big")


@pytest.mark.parametrize("opcode", [RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_MIDDLE,
                                    RC_RDMA_WRITE_LAST, RC_RDMA_WRITE_ONLY])
@pytest.mark.parametrize("length", [0, 3, 1024])
def test_write_frames_round_trip(opcode, length):
    payload = bytes(range(256)) * 4
    frame = bytes(write_frame(**KW, dqpn=0x123456, opcode=opcode, psn=0xFFFFFE,
                              payload=payload[:length], va=0xDEADBEEF00, rkey=0x1234,
                              dlen=65536, ackreq=True))
    p = Ether(frame)
    assert p[IP].tos >> 2 == DSCP_LOSSLESS and p[IP].tos & 3 == ECN_ECT0
    assert p[UDP].dport == ROCE_UDP_PORT and p[UDP].sport == 0xC123 and p[UDP].chksum == 0
    bth = p[BTH]
    assert (bth.opcode, bth.dqpn, bth.psn, bth.ackreq) == (opcode, 0x123456, 0xFFFFFE, 1)
    assert bth.padcount == -length % 4
    if opcode in (RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_ONLY):
        assert (p[RETH].va, p[RETH].rkey, p[RETH].dlen) == (0xDEADBEEF00, 0x1234, 65536)
    else:
        assert RETH not in p
    data = bytes(p[Raw].load) if Raw in p else b""
    assert data == payload[:length] + bytes(-length % 4)
    assert stored_icrc(frame) == scapy_icrc(frame) == as_scapy(icrc(frame))
    assert bytes(p) == frame  # parse -> build is the identity


def test_ack_nak_and_cnp_round_trip():
    ack = Ether(bytes(ack_frame(**KW, dqpn=0x101, psn=77, syndrome=AETH_ACK, msn=5)))
    assert (ack[BTH].opcode, ack[BTH].psn, ack[AETH].syndrome, ack[AETH].msn) == \
        (RC_ACK, 77, AETH_ACK, 5)
    nak = Ether(bytes(ack_frame(**KW, dqpn=0x101, psn=78, syndrome=AETH_NAK_PSN_SEQ)))
    assert nak[AETH].syndrome >> 5 == 3 and nak[AETH].syndrome & 0x1F == 0
    assert ack[IP].tos == nak[IP].tos == DSCP_LOSSLESS << 2 | ECN_NOT_ECT
    cnp = Ether(bytes(cnp_frame(**KW, dqpn=0x101)))
    assert (cnp[BTH].opcode, cnp[BTH].becn, cnp[BTH].dqpn) == (CNP_OPCODE, 1, 0x101)
    assert CNPPadding in cnp and cnp[IP].tos == DSCP_CNP << 2 | ECN_NOT_ECT
    for p in (ack, nak, cnp):
        frame = bytes(p)
        assert icrc_ok(frame) and stored_icrc(frame) == scapy_icrc(frame)


def test_icrc_ignores_what_switches_rewrite_and_catches_the_rest():
    frame = bytearray(bytes(write_frame(**KW, dqpn=9, opcode=RC_RDMA_WRITE_ONLY,
                                        payload=b"x" * 64)))
    assert icrc_ok(frame)
    for off, value in ((15, 0x6B), (22, 3), (24, 0x12), (40, 0x55), (46, 0xC0)):
        # TOS (CE mark), TTL, IP checksum, UDP checksum, BTH FECN/BECN: all masked
        mangled = bytearray(frame)
        mangled[off] = value
        assert icrc_ok(mangled)
    for off in (14 + 12, 34, 42, 51, 70, len(frame) - 5):  # src IP, sport, opcode, PSN, data
        mangled = bytearray(frame)
        mangled[off] ^= 1
        assert not icrc_ok(mangled)


def test_icrc_matches_a_frame_captured_from_a_nic():
    """A CNP sent by a ConnectX-4 Lx (the capture in scapy's test/contrib/roce.uts)."""
    frame = bytes.fromhex("""
        e41d 2dab 2bc2 7cfe 9064 3b32 0800 45c2 003c 718c 4000 4011 9161 0a00 1101 0a00
        1201 0000 12b7 0028 0000 8100 ffff 4000 0118 0000 0000 0000 0000 0000 0000 0000
        0000 0000 0000 82fd 002a""")
    assert icrc_ok(frame)
    assert Ether(frame)[BTH].opcode == CNP_OPCODE


@settings(max_examples=100, deadline=None)
@given(psn=st.integers(0, 2**24 - 1), va=st.integers(0, 2**64 - 1),
       payload=st.binary(min_size=256, max_size=256), ackreq=st.booleans(),
       opcode=st.sampled_from([RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_MIDDLE]))
def test_patched_template_keeps_a_valid_icrc(psn, va, payload, ackreq, opcode):
    t = template(write_frame(**KW, dqpn=0x222, opcode=opcode, payload=bytes(256)))
    frame = bytes(t.patched(psn=psn, ackreq=ackreq, payload=payload,
                            va=va if opcode == RC_RDMA_WRITE_FIRST else None))
    p = Ether(frame)
    assert (p[BTH].psn, p[BTH].ackreq, p[Raw].load) == (psn, ackreq, payload)
    if opcode == RC_RDMA_WRITE_FIRST:
        assert p[RETH].va == va
    assert stored_icrc(frame) == scapy_icrc(frame)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 65536, 65536 * 2 + 3000, 200_001])
def test_write_stream_frames(size):
    """The fast path's frames, packet by packet, are what scapy would have built."""
    layout = Layout(size, 1024, 65536)
    s = WriteStream(42, A, B, layout)
    data = pattern(42, 1024)
    received = b""
    ops = []
    for i in range(layout.n_packets):
        frame = bytes(s.frame(i, ackreq=i == layout.n_packets - 1))
        p = Ether(frame)
        op, length, m = layout.packet(i)
        assert p[BTH].opcode == op and p[BTH].psn == (first_psn(42) + i) % 2**24
        assert p[BTH].dqpn == s.qpn and p[BTH].ackreq == (i == layout.n_packets - 1)
        if op in (RC_RDMA_WRITE_FIRST, RC_RDMA_WRITE_ONLY):
            assert p[RETH].va == remote_va(42) + m * 65536
            assert p[RETH].dlen == layout.message_len(m) and p[RETH].rkey == s.rkey
        load = bytes(p[Raw].load) if Raw in p else b""
        received += load[:len(load) - p[BTH].padcount]
        if i % 7 == 0 or i >= layout.n_packets - 3:
            assert stored_icrc(frame) == scapy_icrc(frame)
        assert icrc_ok(frame)
        ops.append(op)
    stream = (data[:65536] * (size // 65536 + 1))[:size]
    assert received == stream
    assert ops.count(RC_RDMA_WRITE_FIRST) + ops.count(RC_RDMA_WRITE_ONLY) == layout.n_messages


def test_control_frames_patch_psn_and_aeth():
    c = ControlFrames(7, B, A)
    for index, syndrome, msn in ((0, AETH_ACK, 0), (2**24 + 5, AETH_NAK_PSN_SEQ, 3)):
        frame = bytes(c.ack(index, syndrome, msn))
        p = Ether(frame)
        assert p[BTH].psn == (first_psn(7) + index) % 2**24
        assert (p[AETH].syndrome, p[AETH].msn) == (syndrome, msn)
        assert stored_icrc(frame) == scapy_icrc(frame)
    assert icrc_ok(c.cnp)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_our_frames(tmp_path):
    s = WriteStream(3, A, B, Layout(3 * 1024 + 100, 1024, 65536))  # FIRST MIDDLE MIDDLE LAST
    frames = [bytes(s.frame(i, i == 3)) for i in range(4)]
    only = WriteStream(4, A, B, Layout(200, 1024, 65536))
    frames.append(bytes(only.frame(0, True)))
    ctl = ControlFrames(3, B, A)
    frames += [bytes(ctl.ack(3, AETH_ACK, 1)), bytes(ctl.ack(1, AETH_NAK_PSN_SEQ, 0)),
               bytes(ctl.cnp)]
    pcap = tmp_path / "roce.pcap"
    wrpcap(str(pcap), [Ether(f) for f in frames])
    fields = ["infiniband.bth.opcode", "infiniband.bth.psn", "infiniband.bth.destqp",
              "infiniband.reth.va", "infiniband.reth.r_key", "infiniband.reth.dmalen",
              "infiniband.aeth.syndrome", "infiniband.invariant.crc", "ip.dsfield.dscp",
              "ip.dsfield.ecn"]
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|",
                          *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    assert [int(r["infiniband.bth.opcode"]) for r in rows] == \
        [6, 7, 7, 8, 10, 0x11, 0x11, CNP_OPCODE]
    assert [int(r["infiniband.bth.psn"]) for r in rows[:4]] == \
        [(first_psn(3) + i) % 2**24 for i in range(4)]
    assert int(rows[0]["infiniband.reth.va"], 16) == remote_va(3)
    assert int(rows[0]["infiniband.reth.dmalen"]) == 3 * 1024 + 100
    assert int(rows[0]["infiniband.reth.r_key"], 16) == s.rkey
    assert int(rows[4]["infiniband.reth.dmalen"]) == 200
    assert [int(r["infiniband.aeth.syndrome"]) for r in rows[5:7]] == [AETH_ACK,
                                                                        AETH_NAK_PSN_SEQ]
    assert all(int(r["ip.dsfield.dscp"]) == DSCP_LOSSLESS for r in rows[:7])
    assert int(rows[7]["ip.dsfield.dscp"]) == DSCP_CNP
    assert all(int(r["ip.dsfield.ecn"]) == ECN_ECT0 for r in rows[:5])
    # tshark 4.0 shows the ICRC but does not check it: compare with scapy's computation
    # (it reads no ICRC for the CNP, whose opcode it does not know)
    for r, frame in zip(rows[:7], frames[:7], strict=True):
        assert int(r["infiniband.invariant.crc"], 16) == scapy_icrc(frame)
    expert = subprocess.run(["tshark", "-r", str(pcap), "-q", "-z", "expert"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Error" not in expert and "Malformed" not in expert and "Warning" not in expert
    bad = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                          "_ws.malformed || _ws.expert.severity >= warning"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert bad.strip() == ""
    verbose = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    assert verbose.count("RETH - RDMA Extended Transport Header") == 2
    assert verbose.count("AETH - ACK Extended Transport Header") == 2
