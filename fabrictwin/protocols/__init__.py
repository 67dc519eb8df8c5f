"""Wire formats, as scapy layers (to craft and check) and fast codecs (for the hot path).

- ``roce``: RoCEv2 (BTH, RETH, AETH, CNP) and its ICRC;
- ``pfc``: IEEE 802.1Qbb PFC PAUSE frames (MAC control, opcode 0x0101).
"""
