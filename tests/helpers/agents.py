"""Two agents' configurations, and a fake socket that keeps what was sent."""

from __future__ import annotations


class FakeSock:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def send(self, buf: bytes) -> int:
        self.out.append(bytes(buf))
        return len(buf)


A = {"ip": "10.0.0.1", "mac": "02:00:00:00:00:01", "interface": "ftta0"}
B = {"ip": "10.0.0.2", "mac": "02:00:00:00:00:02", "interface": "fttb0"}


def pair_configs(size: int, back: int, **opts) -> tuple[dict, dict]:
    a = {"rank": 0, "ip": A["ip"], "mac": A["mac"], "peers": {"1": B | {"interface": "ftta0"}},
         "sends": [{"id": 1, "dst": 1, "size_bytes": size}],
         "recvs": [{"id": 2, "src": 1, "size_bytes": back}], **opts}
    b = {"rank": 1, "ip": B["ip"], "mac": B["mac"], "peers": {"0": A | {"interface": "fttb0"}},
         "sends": [{"id": 2, "dst": 0, "size_bytes": back, "deps": [1]}],
         "recvs": [{"id": 1, "src": 0, "size_bytes": size}], **opts}
    return a, b
