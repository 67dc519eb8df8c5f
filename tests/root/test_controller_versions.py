"""A switch of another OpenFlow version is refused with one clear line (root).

One OVS netdev bridge offering OpenFlow 1.0 only, pointed at a controller for
``fat_tree,k=4`` with the bridge given the DPID of ``p0e0``: the controller must say,
once, on one stderr line and as one ``error`` decision, which switch it refused and why.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from fabrictwin.controllers.routing import build_fabric
from fabrictwin.fabric import ovs
from fabrictwin.topologies.registry import build_topology

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="OVS bridges need root")]

SPEC = "fat_tree,k=4"
BRIDGE = f"ftv{os.getpid() % 100000}"


def vsctl(*args: str) -> str:
    return subprocess.run(["ovs-vsctl", "--timeout=30", *args], capture_output=True,
                          text=True, check=True).stdout


def test_openflow10_switch_is_refused_with_one_line(tmp_path: Path) -> None:
    from fabrictwin.controllers.process import start_controller
    from fabrictwin.runs.session import free_port

    ovs.ensure_ovs()
    fabric = build_fabric(build_topology(SPEC))
    name = "p0e0"
    dpid_hex = f"{fabric.dpid[name]:016x}"
    log_path = tmp_path / "controller.jsonl"
    with start_controller(SPEC, free_port(), log=log_path) as ctl:
        try:
            vsctl("add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev",
                  "fail-mode=secure", "protocols=OpenFlow10",
                  f"other-config:datapath-id={dpid_hex}",
                  "other-config:disable-in-band=true",
                  "--", "set-controller", BRIDGE, ctl.address)
            deadline = time.monotonic() + 20
            errors: list[dict] = []
            while time.monotonic() < deadline and not errors:
                errors = [d for d in ctl.decisions() if d["kind"] == "error"]
                time.sleep(0.2)
            time.sleep(3.0)  # OVS reconnects: the line must still be said only once
            errors = [d for d in ctl.decisions() if d["kind"] == "error"]
            assert ctl.proc.poll() is None  # refusing a switch does not end the controller
        finally:
            vsctl("--if-exists", "del-br", BRIDGE)
    stderr = ctl.stderr_path.read_text()
    print(f"\ndecision: {errors}\nstderr:\n{stderr}")
    assert len(errors) == 1, errors
    e = errors[0]
    assert e["error"] == "openflow_version" and e["dpid"] == dpid_hex and e["switch"] == name
    assert e["switch_versions"] == ["1.0"] and "1.3" in e["controller_versions"]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "OpenFlow 1.0" in lines[0], stderr
    assert name in lines[0] and dpid_hex in lines[0] and "1.3" in lines[0]
    assert BRIDGE not in vsctl("list-br").split()

