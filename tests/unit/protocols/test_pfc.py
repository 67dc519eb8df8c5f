"""PFC frames: fast builder vs scapy layer, parsing, pause times, the BPF filter, tshark."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from fabrictwin.errors import FabricTwinError
from fabrictwin.protocols.pfc import (
    ETH_P_MAC_CONTROL,
    MAX_QUANTA,
    PFC_BPF,
    PFC_DST_MAC,
    PFC_FRAME_LEN,
    PFC_OPCODE,
    QUANTUM_BITS,
    MACControlPFC,
    noop_frame,
    ns_to_quanta,
    parse_pause,
    pause_frame,
    quanta_to_ns,
)
from tests.helpers.bpf import run_bpf

SRC = "02:00:00:00:00:01"
QUANTA_MAPS = [
    {},
    {0: 0},
    {3: MAX_QUANTA},
    {0: 1, 7: 2},
    {p: 1000 * p for p in range(8)},
    {6: 0, 2: 0x1234, 5: 0xFFFE},
]


def scapy_pfc(src: str, quanta: dict[int, int]) -> Ether:
    vector = sum(1 << p for p in quanta)
    return (Ether(dst=PFC_DST_MAC, src=src)
            / MACControlPFC(class_enable_vector=vector,
                            **{f"quanta{p}": q for p, q in quanta.items()}))


def global_pause(quanta: int = 0xFFFF) -> bytes:
    """An 802.3x PAUSE frame (opcode 0x0001), padded to 60 bytes."""
    return bytes(Ether(dst=PFC_DST_MAC, src=SRC, type=ETH_P_MAC_CONTROL)
                 / Raw(struct.pack("!HH", 0x0001, quanta) + bytes(42)))


def ipv4_frame() -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src=SRC) / IP(src="10.0.0.1", dst="10.0.0.2")
                 / UDP(sport=1, dport=4791) / Raw(bytes(40)))


@pytest.mark.parametrize("quanta", QUANTA_MAPS)
def test_fast_builder_matches_scapy(quanta):
    fast = pause_frame(SRC, quanta)
    assert len(fast) == PFC_FRAME_LEN
    assert fast == bytes(scapy_pfc(SRC, quanta))
    pkt = Ether(fast)
    assert pkt.type == ETH_P_MAC_CONTROL and pkt.dst == PFC_DST_MAC and pkt.src == SRC
    pfc = pkt[MACControlPFC]
    assert pfc.opcode == PFC_OPCODE
    assert int(pfc.class_enable_vector) == sum(1 << p for p in quanta)
    assert {p: getattr(pfc, f"quanta{p}") for p in quanta} == quanta
    assert pfc.pad == bytes(26)


def test_layout():
    f = pause_frame("0A:1b:2C:3d:4E:5f", {1: 0xABCD})
    assert f[:6] == bytes.fromhex("0180c2000001")
    assert f[6:12] == bytes.fromhex("0a1b2c3d4e5f")
    assert f[12:14] == b"\x88\x08" and f[14:16] == b"\x01\x01"
    assert f[16:18] == b"\x00\x02"  # reserved byte, then the vector: bit 1
    assert f[18:34] == b"\x00\x00\xab\xcd" + bytes(12)
    assert f[34:] == bytes(26)


@pytest.mark.parametrize("quanta", QUANTA_MAPS)
def test_parse_round_trip(quanta):
    frame = pause_frame(SRC, quanta)
    assert parse_pause(frame) == quanta
    assert parse_pause(memoryview(frame)) == quanta
    assert parse_pause(bytearray(frame) + b"\xde\xad\xbe\xef") == quanta  # with an FCS


def test_xon_and_noop():
    xon = pause_frame(SRC, {3: 0, 4: 0})
    assert parse_pause(xon) == {3: 0, 4: 0}  # enabled with time 0: resume
    noop = noop_frame(SRC)
    assert noop == pause_frame(SRC, {}) and len(noop) == PFC_FRAME_LEN
    assert parse_pause(noop) == {}
    assert noop[16:18] == b"\x00\x00"
    assert int(Ether(noop)[MACControlPFC].class_enable_vector) == 0


def test_parse_ignores_reserved_vector_byte_and_disabled_times():
    frame = bytearray(pause_frame(SRC, {2: 7}))
    frame[16] = 0xFF  # reserved upper byte of the vector
    struct.pack_into("!H", frame, 18, 999)  # a time for priority 0, whose bit is clear
    assert parse_pause(frame) == {2: 7}


def test_parse_rejects_other_frames():
    assert parse_pause(ipv4_frame()) is None
    assert parse_pause(global_pause()) is None  # 802.3x PAUSE: 0x8808, opcode 0x0001
    assert parse_pause(pause_frame(SRC, {0: 1})[:33]) is None  # runt
    assert parse_pause(b"") is None


def test_scapy_dissects_global_pause_as_raw():
    pkt = Ether(global_pause())
    assert MACControlPFC not in pkt and Raw in pkt


@pytest.mark.parametrize("quanta, message", [
    ({8: 1}, "priority"), ({-1: 1}, "priority"), ({"3": 1}, "priority"),
    ({0: MAX_QUANTA + 1}, "quanta"), ({0: -1}, "quanta"), ({0: 1.5}, "quanta"),
])
def test_invalid_quanta_map(quanta, message):
    with pytest.raises(FabricTwinError, match=message) as e:
        pause_frame(SRC, quanta)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("mac", ["02:00:00:00:00", "02:00:00:00:00:01:02", "02-00-00-00-00-01",
                                 "0g:00:00:00:00:01", "020000000001", "", "02:00:00:00:00:01\n",
                                 None])
def test_invalid_mac(mac):
    with pytest.raises(FabricTwinError, match="MAC") as e:
        pause_frame(mac, {0: 1})
    assert "\n" not in str(e.value)
    with pytest.raises(FabricTwinError, match="MAC"):
        noop_frame(mac)


def test_quanta_to_ns():
    assert QUANTUM_BITS == 512
    assert quanta_to_ns(1, 100e9) == pytest.approx(5.12)
    assert quanta_to_ns(MAX_QUANTA, 100e9) == pytest.approx(65535 * 5.12)
    assert quanta_to_ns(0, 100e9) == 0
    # 100 Gb/s dilated by D = 10000 runs at 10 Mb/s: every pause lasts D times longer
    assert quanta_to_ns(1, 10e6) == pytest.approx(51_200)
    assert quanta_to_ns(300, 10e6) == pytest.approx(10_000 * quanta_to_ns(300, 100e9))


def test_ns_to_quanta():
    assert ns_to_quanta(0, 100e9) == 0
    assert ns_to_quanta(5.12, 100e9) == 1  # exact, despite floating point
    assert ns_to_quanta(5.13, 100e9) == 2  # ceil
    assert ns_to_quanta(1, 100e9) == 1
    assert ns_to_quanta(51.2, 100e9) == 10
    assert ns_to_quanta(51_200, 10e6) == 1
    assert ns_to_quanta(1_000_000, 10e6) == 20  # 1 ms at 10 Mb/s: 10000 bits = 19.53 quanta
    assert ns_to_quanta(1e9, 100e9) == MAX_QUANTA  # 1 s is far beyond 65535 quanta
    assert ns_to_quanta(float("inf"), 100e9) == MAX_QUANTA
    for q in (1, 2, 3, 100, 4097, MAX_QUANTA):
        for rate in (100e9, 25e9, 10e6, 1e9 / 3):
            assert ns_to_quanta(quanta_to_ns(q, rate), rate) == q


@pytest.mark.parametrize("rate", [0, -1e9, float("nan"), float("inf")])
def test_bad_rate(rate):
    with pytest.raises(FabricTwinError, match="rate"):
        ns_to_quanta(100, rate)
    with pytest.raises(FabricTwinError, match="rate"):
        quanta_to_ns(1, rate)


def test_bad_time_and_quanta():
    with pytest.raises(FabricTwinError, match="time"):
        ns_to_quanta(-1, 100e9)
    with pytest.raises(FabricTwinError, match="quanta"):
        quanta_to_ns(MAX_QUANTA + 1, 100e9)


def test_bpf_accepts_only_pfc():
    assert all(len(insn) == 4 for insn in PFC_BPF)
    assert run_bpf(PFC_BPF, pause_frame(SRC, {3: 100})) > 0
    assert run_bpf(PFC_BPF, noop_frame(SRC)) > 0
    assert run_bpf(PFC_BPF, global_pause()) == 0
    assert run_bpf(PFC_BPF, ipv4_frame()) == 0
    assert run_bpf(PFC_BPF, pause_frame(SRC, {0: 1})[:15]) == 0


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_tshark_decodes_pfc(tmp_path):
    frames = [pause_frame(SRC, {0: 0, 3: MAX_QUANTA, 7: 1234}), noop_frame(SRC)]
    pcap = tmp_path / "pfc.pcap"
    wrpcap(str(pcap), [Ether(f) for f in frames])
    verbose = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    assert "Type: MAC Control (0x8808)" in verbose
    assert "Opcode: Class Based Flow Control [CBFC] Pause (0x0101)" in verbose
    assert "CBFC Class Enable Vector: 0x0089, C0, C3, C7" in verbose
    assert "CBFC Class Enable Vector: 0x0000" in verbose
    first = verbose.split("Frame 2:")[0]
    times = first.split("CBFC Class Pause Times")[1].split()
    assert times == ["C0:", "0", "C1:", "0", "C2:", "0", "C3:", "65535",
                     "C4:", "0", "C5:", "0", "C6:", "0", "C7:", "1234"]
    fields = ["macc.opcode", "macc.cbfc.enbv",
              *[f"macc.cbfc.pause_time.c{p}" for p in range(8)]]
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=|",
                          *[a for f in fields for a in ("-e", f)]],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [[int(v, 0) for v in line.split("|")] for line in out.splitlines()]
    assert rows == [[PFC_OPCODE, 0x89, 0, 0, 0, 65535, 0, 0, 0, 1234],
                    [PFC_OPCODE, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    # no expert info: the vector's reserved byte is 0 and the destination is 01-80-C2-00-00-01
    bad = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                          "_ws.malformed || _ws.expert"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert bad.strip() == ""
