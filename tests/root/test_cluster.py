"""Mininet's cluster mode: a fabric split over two emulation servers (root).

The second server is simulated on this machine (tests.helpers.simserver): its own
network and mount name spaces, sshd and Open vSwitch. The placement keeps each leaf
with its hosts; the leaf-spine uplink it cuts is a VXLAN tunnel between the servers.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from fabrictwin.fabric import ovs
from fabrictwin.fabric.network import ClusterEmulation
from fabrictwin.fabric.state import ALIAS_PREFIX
from fabrictwin.linux.commands import root_links
from fabrictwin.linux.ssh import Server
from fabrictwin.runs.collective import run_sizes
from fabrictwin.runs.session import prepare
from fabrictwin.topologies.placement import cut_links, place
from fabrictwin.topologies.registry import build_topology
from tests.helpers.cli import run_cli
from tests.helpers.simserver import SimServer

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]

SPEC = "leaf_spine,leaves=2,spines=1,hosts_per_leaf=2"


def _remote(srv: SimServer, command: str) -> str:
    return subprocess.run(srv.ssh(command), capture_output=True, text=True, check=True,
                          timeout=30).stdout


def test_two_server_cluster_reachability_and_collective(tmp_path):
    g = build_topology(SPEC)
    where = place(g, 2)
    assert cut_links(g, where) == [("s0", "l1")]
    caps, _cal, plan = prepare(g, None, loaded=True)
    remote_bridges = sorted(s.bridge for s in plan.switches if where[s.name] == 1)
    with SimServer() as srv:
        server = Server(srv.address, srv.local_address, str(srv.ssh_config))
        t0 = time.perf_counter()
        with ClusterEmulation(plan, caps, where, [server]) as emu:
            bringup_s = time.perf_counter() - t0
            run_id = emu.state.run_id
            # the remote nodes are really there: l1's bridge in the server's OVS, h2's
            # shell a child of the server's sshd
            assert _remote(srv, "ovs-vsctl list-br").split() == remote_bridges
            assert set(ovs.our_bridges(run_id)) == {s.bridge for s in plan.switches
                                                    if where[s.name] == 0}
            reach = emu.reachability()
            assert reach.ok, reach.failed
            assert reach.pairs == 12
            rows = run_sizes(emu, g, "all_reduce", "ring", [1 << 20], Path(tmp_path))
            t1 = time.perf_counter()
            # the ring crossed the servers through the tunnel at the cut uplink (s0's end
            # here; with a delay line, the delay line's far veth is the tunnel end)
            (cut,) = emu.tunnels
            end = f"{cut.delay_line}b" if cut.delay_line else cut.intf_u
            assert "vxlan" in subprocess.run(["ip", "-d", "link", "show", end],
                                             capture_output=True, text=True).stdout
            stats = Path(f"/sys/class/net/{end}/statistics")
            tunnel_bytes = [int((stats / f"{d}_bytes").read_text()) for d in ("tx", "rx")]
            assert min(tunnel_bytes) > 1 << 20, tunnel_bytes
        teardown_s = time.perf_counter() - t1
        (row,) = rows
        assert row["ok"] and row["lost_bytes"] == 0, row.get("failure")
        assert row["transfers"] > 0
        # nothing of the run on either server
        assert ovs.our_bridges(run_id) == []
        assert not [n for n, a in root_links().items() if a == f"{ALIAS_PREFIX}{run_id}"]
        assert _remote(srv, "ovs-vsctl list-br").split() == []
        links = _remote(srv, "ip -o link show").split("\n")
        assert sorted(line.split(":")[1].strip().split("@")[0] for line in links if line) \
            == sorted(["lo", srv.veth[1]])
        procs = {Path(f"/proc/{p}/comm").read_text().strip() for p in srv.pids()}
        assert procs <= {"sshd", "ovsdb-server", "ovs-vswitchd"}, procs
        print(f"\ncluster: bring-up {bringup_s:.1f} s, reachability {reach.pairs} pairs in "
              f"{reach.time_s:.1f} s, all_reduce 1 MiB over {row['transfers']} transfers "
              f"in {row['emulated_time_s']:.3f} s emulated (D={plan.dilation:.0f}, "
              f"{row['time_us']:.1f} us hardware), "
              f"teardown {teardown_s:.1f} s, tunnel tx/rx {tunnel_bytes} bytes")
    assert srv.leftovers() == []
    assert srv.netns not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                           text=True).stdout


def test_fabrictwin_run_with_servers_and_the_controller(tmp_path):
    """A collective from the command line, the controller on this machine's 127.0.0.1:
    the remote switch reaches it through the server's ssh connection (ssh -R)."""
    with SimServer() as srv:
        out = run_cli("run", "--collective", "allreduce", "--topo", SPEC, "--sizes", "1M",
                      "--servers", srv.address, "--ssh-config", str(srv.ssh_config), "--json",
                      "--out", str(tmp_path))
        assert out.returncode == 0, out.stderr[-500:]
        assert _remote(srv, "ovs-vsctl list-br").split() == []
    assert srv.leftovers() == []
    doc = json.loads(out.stdout)
    assert doc["forwarding"] == "controller"
    assert doc["emulation"]["cluster"]["nodes"] == [4, 3]
    assert doc["emulation"]["reachability"]["pairs"] == 12
    (row,) = doc["results"]
    assert row["ok"] and row["lost_bytes"] == 0, row.get("failure")
    print(f"\nfabrictwin run --servers: bring-up {doc['emulation']['bringup_s']} s, "
          f"all_reduce 1 MiB {row['emulated_time_s']:.3f} s emulated, "
          f"{row['time_us']:.1f} us hardware")


def test_fabrictwin_emulate_with_servers_static_flows():
    """`fabrictwin emulate SPEC --servers IP --ssh-config FILE --static`."""
    with SimServer() as srv:
        out = run_cli("emulate", SPEC, "--servers", srv.address, "--ssh-config",
                      str(srv.ssh_config), "--static", "--json")
        assert out.returncode == 0, out.stderr[-500:]
        doc = json.loads(out.stdout)
        assert doc["ok"] and doc["reachability"]["pairs"] == 12
        assert doc["forwarding"] == "static flows"
        assert doc["cluster"] == {"servers": ["this machine", srv.address], "nodes": [4, 3],
                                  "tunnels": 1}
        assert _remote(srv, "ovs-vsctl list-br").split() == []
    assert srv.leftovers() == []
