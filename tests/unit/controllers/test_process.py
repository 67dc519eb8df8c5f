"""The controller process: listens on 127.0.0.1 only, one-line failures, clean stop."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fabrictwin.controllers.decisions import read_decisions
from fabrictwin.controllers.process import listening, start_controller
from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.procs import free_port

ROOT = Path(__file__).resolve().parents[3]


def test_controller_listens_on_loopback_only_and_stops_cleanly(tmp_path):
    port = free_port()
    log = tmp_path / "ctl.jsonl"
    with start_controller("fat_tree,k=4", port, log=log) as ctl:
        assert ctl.address == f"tcp:127.0.0.1:{port}"
        assert listening(port, "127.0.0.1", pid=ctl.proc.pid)
        assert not listening(port, "127.0.0.1", pid=1)
        assert not listening(port, "0.0.0.0")
        # tests/root/test_controller_loopback.py tries it from another address
        start = ctl.decisions()[0]
        assert start["kind"] == "start" and start["spec"] == "fat_tree,k=4"
        assert start["switches"] == 20 and start["routes_cpu_s"] < 1
        with pytest.raises(FabricTwinError, match="0 of 1 switches configured"):
            ctl.wait_switches(1, timeout_s=0.2)
        assert ctl.stop() == 0
    assert [d["kind"] for d in read_decisions(log)] == ["start", "stop"]
    assert not listening(port)


def test_busy_port_fails_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(FabricTwinError) as err:
            start_controller("fat_tree,k=4", port, log=tmp_path / "c.jsonl")
        assert str(err.value) == f"--port {port}: 127.0.0.1:{port} is already in use"
        r = subprocess.run([sys.executable, "-m", "fabrictwin.controllers", "--topo",
                            "fat_tree,k=4", "--port", str(port)],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [
            f"fabrictwin: error: --port {port}: 127.0.0.1:{port} is already in use"]


@pytest.mark.parametrize("args, message", [
    (["--topo", "fat_tree,k=5"], "fat_tree: k: a fat-tree needs an even k, got 5"),
    (["--topo", "fat_tree", "--dilation", "0"], "--dilation: must be positive, got 0"),
    (["--topo", "fat_tree", "--port", "70000"], "--port: must be 1..65535, got 70000"),
    (["--topo", "fat_tree", "--queue-source", "nowhere"],
     "--queue-source: expected module:callable, got 'nowhere'"),
])
def test_bad_arguments_fail_with_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "fabrictwin.controllers", *args],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"fabrictwin: error: {message}"]


def test_cli_registration():

    from fabrictwin.cli.controller import cmd_controller
    from fabrictwin.cli.main import parser

    argv = ["controller", "--topo", "fat_tree,k=4", "--port", "7000",
            "--policy", "p.yaml", "--log", "d.jsonl", "--dilation", "100"]
    args = parser(argv).parse_args(argv)
    assert args.func is cmd_controller
    assert (args.topo, args.port, args.policy, args.log, args.dilation) == \
        ("fat_tree,k=4", 7000, "p.yaml", "d.jsonl", 100.0)
