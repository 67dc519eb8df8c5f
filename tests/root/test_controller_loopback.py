"""The controller cannot be reached from anywhere but loopback: a client in another
network namespace, and this host's own non-loopback address, are both refused."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from fabrictwin.controllers.process import start_controller
from fabrictwin.linux.procs import free_port

NS, HOST_IF, NS_IF = "ftlo-ns", "ftlo0", "ftlo1"
HOST_IP, NS_IP = "198.18.77.1", "198.18.77.2"  # RFC 2544 benchmarking range


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def neighbour():
    """A namespace one veth away, with addresses on both ends; removed afterwards."""
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    ip("netns", "add", NS)
    try:
        ip("link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS)
        ip("addr", "add", f"{HOST_IP}/30", "dev", HOST_IF)
        ip("link", "set", HOST_IF, "up")
        ip("-n", NS, "addr", "add", f"{NS_IP}/30", "dev", NS_IF)
        ip("-n", NS, "link", "set", NS_IF, "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print("refused" if isinstance(e, ConnectionRefusedError) else f"error {e}")
"""


def test_controller_refuses_other_addresses(tmp_path, neighbour):
    port = free_port()
    with start_controller("fat_tree,k=4", port, log=tmp_path / "c.jsonl"):
        # the path works: the namespace reaches this host's address (ping-free check:
        # a port nobody listens on answers with a reset, not silence)
        other = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", CONNECT,
                                HOST_IP, str(free_port())], capture_output=True, text=True)
        assert other.stdout.strip() == "refused", other
        remote = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", CONNECT,
                                 HOST_IP, str(port)], capture_output=True, text=True)
        assert remote.stdout.strip() == "refused", remote
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.settimeout(3)
            s.connect((HOST_IP, port))
        with socket.socket() as s:  # while loopback is served
            s.settimeout(3)
            s.connect(("127.0.0.1", port))
