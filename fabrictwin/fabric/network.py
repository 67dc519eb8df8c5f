"""The one module that imports mininet: a plan brought up as Mininet hosts, OVS bridges, veths.

Stock Mininet configures one thing per command. Here the same Mininet node and
link objects are used, but what can be batched is: all veth pairs in one
``ip -batch`` (host ends created straight in their namespace), all bridges and
ports in one ovs-vsctl transaction, flow tables loaded in parallel, and every
host configured through its shell at once (Mininet's sendCmd/waitOutput).
"""

from __future__ import annotations

import logging
import math
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from mininet.examples.cluster import ClusterCleanup, RemoteHost, RemoteOVSSwitch
from mininet.link import Intf, Link
from mininet.net import Mininet
from mininet.node import Host, Node, OVSSwitch

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric import ovs
from fabrictwin.fabric.plan import EmulationPlan, LinkPlan
from fabrictwin.fabric.probe import Capabilities
from fabrictwin.fabric.queues import CREDIT_TIERS, default_queues, tc_lines
from fabrictwin.fabric.state import ALIAS_PREFIX, RUN_ROOT, RunState, new_run, remove_run
from fabrictwin.linux.commands import ip_batch, on, root_links, run, tc_batch
from fabrictwin.linux.names import check_name
from fabrictwin.linux.procs import stop_all
from fabrictwin.linux.ssh import Server

log = logging.getLogger(__name__)


class PrebuiltLink(Link):
    """A Mininet link over two interfaces that already exist (made in a batch)."""

    def __init__(self, intf1: Intf, intf2: Intf) -> None:  # noqa: D107 - no super(): nothing to make
        self.intf1, self.intf2 = intf1, intf2
        intf1.link = intf2.link = self


def _no_move(*_args: object, **_kw: object) -> bool:
    return True  # the batch created the interface in its namespace already


@dataclass
class Reachability:
    pairs: int
    failed: list[tuple[str, str]]
    time_s: float

    @property
    def ok(self) -> bool:
        return not self.failed


def _shaping(intf: str, link: LinkPlan, netem: bool) -> list[str]:
    """tc lines: per-class HTB queues at the dilated rate, netem under them if available."""
    return tc_lines(intf, link.rate_bps, link.delay_ns, netem, default_queues(),
                    credit=link.tier in CREDIT_TIERS)


#: fping forgets a probe 10 s after sending it (SEQMAP_TIMEOUT_IN_NS in its seqmap.c) and
#: ignores a later reply: past this, reachability pings with iputils' ping instead
FPING_MAX_S = 8.0


class Emulation:
    """A running emulation of ``plan``; use as a context manager, teardown always runs."""

    def __init__(self, plan: EmulationPlan, caps: Capabilities,
                 progress: Callable[[str], None] | None = None,
                 controller: str | None = None, extra_pids: tuple[int, ...] = (),
                 leaf_qdiscs: Mapping[str, str] | None = None,
                 controller_process: Any = None) -> None:
        """``controller`` (``tcp:127.0.0.1:PORT``): switches connect to it instead of
        getting the plan's static flow tables. ``extra_pids`` (the controller's) are
        recorded so `fabrictwin clean` can end them after a killed run. ``leaf_qdiscs``:
        an extra tc line per interface (PFC's lossless queue), after its classes.
        ``controller_process``: the controller's handle (its log; a fault restarts it)."""
        self.plan, self.caps, self.controller = plan, caps, controller
        self.controller_process = controller_process
        self.leaf_qdiscs = dict(leaf_qdiscs or {})
        self.extra_pids = list(extra_pids)
        self.progress = progress or (lambda msg: log.info("%s", msg))
        self.net: Mininet | None = None
        self.state: RunState | None = None
        self.delay_procs: list[subprocess.Popen[bytes]] = []
        self.timings: dict[str, float] = {}
        self._bridges = {s.name: s.bridge for s in plan.switches}
        self.where: dict[str, int] = {}  # node -> server (ClusterEmulation); here: all 0

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Emulation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _step(self, name: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        self.progress(name)
        fn()
        self.timings[name] = time.perf_counter() - t0

    def start(self) -> None:
        plan = self.plan
        self._check_names()
        self._before_nodes()
        self.state = new_run()
        net = self.net = Mininet(topo=None, build=False, controller=None, autoSetMacs=False,
                                 autoStaticArp=False, waitConnected=False)
        self._step("hosts", lambda: [net.addHost(h.name, ip=None, **self._node_class(h.name, Host))
                                     for h in plan.hosts])
        self.state.pids = self.extra_pids + [h.shell.pid for h in net.hosts]
        self.state.save()
        datapath = "kernel" if self.caps.kernel_datapath else "user"
        self._step("switches", lambda: [
            net.addSwitch(s.bridge, dpid=s.dpid, failMode="secure", datapath=datapath,
                          protocols="OpenFlow13", **self._node_class(s.name, OVSSwitch))
            for s in plan.switches])
        self._step("links", self._make_links)
        self._step("bridges", self._create_bridges)
        if self.controller is None:
            self._step("flows", self._load_flows)
        self._step("host config", self._configure_hosts)
        self._step("shaping", self._shape_root)
        self._step("delay lines", self._start_delay_lines)

    def stop(self) -> None:
        """Tear down everything of this run; safe to call twice, and after a failed start."""
        stop_all(self.delay_procs, timeout_s=3)
        self.delay_procs = []
        if self.net is not None:
            for node in self.net.hosts + self.net.switches:
                node.terminate()
            self.net = None
        if self.state is not None:
            # by tag, and by name: an interface made but not yet tagged is ours too
            remove_run(self.state.run_id, [], names=self._root_intfs())
            self.state = None

    # -- bring-up steps ---------------------------------------------------------------------
    def _check_names(self) -> None:
        """This run's root-namespace names are safe and not another run's."""
        for intf in self._root_intfs():
            check_name(intf)
        clash = sorted(set(self._root_intfs()) & set(root_links()))
        if clash:
            raise FabricTwinError(f"interface {clash[0]} already exists (another run? "
                                  "`sudo fabrictwin clean` removes a killed run's leftovers)")

    def _before_nodes(self) -> None:
        """What must hold before any node is made (nothing, on one machine)."""

    def _node_class(self, name: str, local: type) -> dict[str, Any]:
        """Mininet's class (and its arguments) for node ``name``: ``local`` here."""
        del name
        return {"cls": local}

    def _datapath(self) -> str:
        return "system" if self.caps.kernel_datapath else "netdev"

    def _create_bridges(self) -> None:
        assert self.state is not None
        ovs.create_bridges(self.plan, self.state.run_id, self._datapath(), self.controller)

    def _load_flows(self) -> None:
        ovs.load_flows(self.plan)

    def _root_intfs(self) -> list[str]:
        """Interfaces this run creates in this machine's root namespace."""
        return self._intfs_on(0)

    def _intfs_on(self, k: int) -> list[str]:
        """Root-namespace interfaces this run makes on server ``k`` (0: this machine,
        where everything is unless :class:`ClusterEmulation` placed it elsewhere; a delay
        line runs on its link's first end's server)."""
        hosts = {h.name for h in self.plan.hosts}
        names = []
        for link in self.plan.links:
            names += [i for i, n in ((link.intf_u, link.u), (link.intf_v, link.v))
                      if n not in hosts and self.where.get(n, 0) == k]
            if link.delay_line and self.where.get(link.u, 0) == k:
                names += [f"{link.delay_line}a", f"{link.delay_line}b"]
        return names

    def node(self, name: str) -> Host | OVSSwitch:
        """The Mininet node of the plan's host or switch ``name`` (a switch's Mininet name
        is its bridge's, with the run's prefix)."""
        assert self.net is not None
        return self.net.nameToNode[self._bridges.get(name, name)]

    def _make_links(self) -> None:
        plan = self.plan
        assert self.net is not None and self.state is not None
        alias = f"{ALIAS_PREFIX}{self.state.run_id}"
        lines: list[str] = []
        up: list[str] = []

        def end(intf: str, node: str) -> str:
            obj = self.node(node)
            return f"netns {obj.shell.pid}" if isinstance(obj, Host) else ""

        def pair(a: str, a_node: str | None, b: str, b_node: str | None) -> None:
            a_ns = end(a, a_node) if a_node else ""
            b_ns = end(b, b_node) if b_node else ""
            lines.append(f"link add name {a} mtu {plan.mtu} {a_ns} type veth peer name {b} "
                         f"mtu {plan.mtu} {b_ns}")
            up.extend(n for n, ns in ((a, a_ns), (b, b_ns)) if not ns)

        for link in plan.links:
            if link.delay_line:
                pair(link.intf_u, link.u, f"{link.delay_line}a", None)
                pair(link.intf_v, link.v, f"{link.delay_line}b", None)
            else:
                pair(link.intf_u, link.u, link.intf_v, link.v)
        # `ip link add` takes no alias: tag right after, in the same batch
        ip_batch(lines + [f"link set dev {n} alias {alias} up" for n in up])
        self._attach_links()

    def _attach_links(self) -> None:
        """Mininet's link objects over the interfaces the batches made."""
        assert self.net is not None
        host_by_name = {h.name: h for h in self.plan.hosts}
        for link in self.plan.links:
            intfs = []
            for intf, node, port in ((link.intf_u, link.u, link.port_u),
                                     (link.intf_v, link.v, link.port_v)):
                i = Intf(intf, node=self.node(node), port=port, moveIntfFn=_no_move)
                if node in host_by_name:  # so Mininet's IP()/MAC() and its CLI work
                    i.ip, i.prefixLen, i.mac = host_by_name[node].ip, 32, host_by_name[node].mac
                intfs.append(i)
            self.net.links.append(PrebuiltLink(*intfs))

    def _configure_hosts(self) -> None:
        net, plan = self.net, self.plan
        assert net is not None and self.state is not None
        for h in plan.hosts:
            # Every interface of a host carries the host's MAC: switches forward on it.
            ip_lines = [f"link set dev {i} address {h.mac} up" for i in h.intfs]
            ip_lines.append("link set dev lo up")
            ip_lines.append(f"addr add {h.ip}/32 dev {h.intfs[0]}")
            for dst_ip, dst_mac, intf in h.routes:
                ip_lines.append(f"route replace {dst_ip}/32 dev {intf} src {h.ip}")
                ip_lines.append(f"neigh replace {dst_ip} lladdr {dst_mac} dev {intf} "
                                "nud permanent")
            tc_lines = []
            for link in plan.links:
                for intf, node in ((link.intf_u, link.u), (link.intf_v, link.v)):
                    if node == h.name:
                        tc_lines += self._shaping(intf, link)
            (self.state.dir / f"{h.name}.ip").write_text("\n".join(ip_lines) + "\n")
            (self.state.dir / f"{h.name}.tc").write_text("\n".join(tc_lines) + "\n")
        self._copy_host_files()
        for h in plan.hosts:
            node = net.nameToNode[h.name]
            # TCP through the userspace datapath needs checksums computed by the sender.
            offload = "; ".join(f"ethtool -K {i} tx off >/dev/null 2>&1" for i in h.intfs)
            node.sendCmd(
                "sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 "
                "net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; "
                f"ip -batch {self.state.dir / h.name}.ip && tc -batch {self.state.dir / h.name}.tc"
                f" && {offload}; echo rc=$?")
        bad = []
        for h in plan.hosts:
            out = net.nameToNode[h.name].waitOutput()
            if "rc=0" not in out:
                bad.append(f"{h.name}: {out.strip().splitlines()[0] if out.strip() else '?'}")
        if bad:
            raise FabricTwinError(f"configuring hosts failed: {bad[0]}")

    def _shape_root(self) -> None:
        hosts = {h.name for h in self.plan.hosts}
        lines: list[str] = []
        for link in self.plan.links:
            for intf, node in ((link.intf_u, link.u), (link.intf_v, link.v)):
                if node not in hosts:
                    lines += self._shaping(intf, link)
        tc_batch(lines)

    def _copy_host_files(self) -> None:
        """Where the hosts read their batch files: here, already."""

    def _shaping(self, intf: str, link: LinkPlan) -> list[str]:
        lines = _shaping(intf, link, self.caps.netem)
        extra = self.leaf_qdiscs.get(intf)
        return lines + [extra] if extra else lines

    def _start_delay_lines(self) -> None:
        """Every delayed link served by a few processes: one per two cores, so the agents
        and the switch keep the rest of the machine."""
        assert self.state is not None
        delayed = [link for link in self.plan.links if link.delay_line]
        groups = min(len(delayed), max(1, (os.cpu_count() or 1) // 2))
        for g in range(groups):
            args = [arg for link in delayed[g::groups]
                    for arg in (f"{link.delay_line}a", f"{link.delay_line}b",
                                str(int(link.delay_ns)))]
            self.delay_procs.append(subprocess.Popen(
                [sys.executable, "-m", "fabrictwin.fabric.delayline", *args],
                stdin=subprocess.DEVNULL))
        self.state.pids += [p.pid for p in self.delay_procs]
        self.state.save()

    # -- running things in hosts --------------------------------------------------------------
    def run_in_hosts(self, commands: dict[str, str],
                     abort: Callable[[str], bool] | None = None) -> dict[str, str]:
        """Run one shell command in each named host, all at once; return their outputs.

        ``abort(host)`` is asked as each command ends; when it answers True the others
        are interrupted (Ctrl-C, as at a terminal) instead of being waited for."""
        net = self.net
        assert net is not None
        nodes = {name: net.nameToNode[name] for name in commands}
        for name, cmd in commands.items():
            nodes[name].sendCmd(cmd)
        if abort is None:
            return {name: node.waitOutput() for name, node in nodes.items()}
        outputs = dict.fromkeys(nodes, "")
        interrupted = False
        while busy := [n for n in nodes.values() if n.waiting]:
            readable, _, _ = select.select([n.stdout for n in busy], [], [], 0.1)
            for node in busy:
                if node.stdout not in readable and not node.readbuf:  # (Mininet buffers)
                    continue
                outputs[node.name] += node.monitor(timeoutms=0)
                if not node.waiting and not interrupted and abort(node.name):
                    interrupted = True
                    for other in nodes.values():
                        if other.waiting:
                            other.sendInt()
        return outputs

    def record_pid(self, pid: int) -> None:
        """A process started for this run after bring-up (a restarted controller): `fabrictwin
        clean` ends it too after a killed run."""
        if self.state is not None:
            self.state.pids.append(pid)
            self.state.save()

    def switch_ports(self) -> set[str]:
        """Root-namespace interfaces that are switch ports (for queue telemetry)."""
        return {intf for sw in self.plan.switches for _, intf in sw.ports}

    # -- checks -----------------------------------------------------------------------------
    def reachability(self, timeout_s: float = 2.0, retries: int = 4) -> Reachability:
        """Every host pings every other (fping, all hosts at once, lost probes resent)."""
        net = self.net
        assert net is not None
        t0 = time.perf_counter()
        ips = {h.name: h.ip for h in self.plan.hosts}
        timeout_ms = max(100, int(timeout_s * 1000))
        for h in self.plan.hosts:
            targets = " ".join(ip for n, ip in ips.items() if n != h.name)
            if timeout_s > FPING_MAX_S:
                # one ping per target, all at once; each resends every second until
                # the deadline, and prints its target when one reply came back
                cmd = (f"for ip in {targets}; do (ping -n -q -c 1 -i 1 -w {math.ceil(timeout_s)}"
                       f" $ip >/dev/null 2>&1 && echo $ip) & done; wait")
            else:
                # -a: print the targets that answered; -r: resend to the silent ones, since
                # all hosts probing at once can overflow the userspace switch's queues.
                cmd = f"fping -a -r {retries} -i 2 -t {timeout_ms} {targets} 2>/dev/null; true"
            net.nameToNode[h.name].sendCmd(cmd)
        failed = []
        for h in self.plan.hosts:
            answered = set(net.nameToNode[h.name].waitOutput().split())
            failed += [(h.name, n) for n, ip in ips.items() if n != h.name and ip not in answered]
        n = len(ips)
        return Reachability(n * (n - 1), failed, time.perf_counter() - t0)


# -- cluster mode: some nodes on other servers (Mininet's examples/cluster.py) -------------

class _SshNode:
    """Mininet's RemoteMixin as root without sudo: its commands run through
    ``Server.ssh`` (RemoteMixin itself prefixes ``sudo -E``, which these machines need
    not have)."""

    isRemote: bool

    def __init__(self, name: str, ft_server: Server, **kwargs: object) -> None:
        self.ft_server = ft_server  # before super(): the shell starts inside it
        super().__init__(name, server=ft_server.address,  # type: ignore[call-arg]
                         user=ft_server.user, serverIP=ft_server.address, **kwargs)
        # Mininet would `ssh ... mn -c` at its exit: clean-up stays ours (by run tag)
        ClusterCleanup.serveruser.pop(ft_server.address, None)

    def _popen(self, cmd: list[str] | str, sudo: bool = True, tt: bool = True,
               **params: object) -> subprocess.Popen[bytes]:
        del sudo  # root on the server
        if isinstance(cmd, str):
            cmd = cmd.split()
        if self.isRemote:
            cmd = self.ft_server.ssh(tt=tt) + cmd
        params.update(preexec_fn=os.setpgrp)
        return Node._popen(self, cmd, **params)  # type: ignore[arg-type]


class ClusterHost(_SshNode, RemoteHost):
    """A host on another server (its shell and name space there)."""


class ClusterOVSSwitch(_SshNode, RemoteOVSSwitch):
    """A switch on another server (its bridge in that server's Open vSwitch)."""


#: VXLAN (in every kernel; Mininet's RemoteGRELink needs ip_gre, which not all have)
VXLAN_PORT = 4789


class ClusterEmulation(Emulation):
    """An emulation whose nodes are spread over this machine and other servers.

    ``where``: node -> server index (:func:`fabrictwin.topologies.placement.place`);
    0 is this machine, k is ``servers[k - 1]``. Nodes on this machine are made as
    :class:`Emulation` makes them; nodes elsewhere are Mininet's cluster nodes
    (``RemoteHost``/``RemoteOVSSwitch`` over one ssh connection per server), and their
    veths, bridges, flows and queues are one batch per server. A link cut by the
    placement is a VXLAN tunnel between the two servers' root name spaces, as
    Mininet's ``RemoteGRELink`` makes a GRE one. The controller listens on this
    machine's 127.0.0.1 only; switches elsewhere reach it through an ssh port forward
    on their server's shared connection.

    The agents' common start instant is CLOCK_MONOTONIC: every server must share this
    machine's kernel (a second server simulated in name spaces); servers on their own
    kernels are refused until the start instant is taken from a PTP-disciplined
    CLOCK_REALTIME (docs/cluster.md)."""

    def __init__(self, plan: EmulationPlan, caps: Capabilities, where: Mapping[str, int],
                 servers: list[Server], progress: Callable[[str], None] | None = None,
                 controller: str | None = None, extra_pids: tuple[int, ...] = (),
                 leaf_qdiscs: Mapping[str, str] | None = None,
                 controller_process: Any = None) -> None:
        """As :class:`Emulation`; a ``controller`` on this machine's loopback is reached
        from the other servers through their ssh connection (``ssh -R``)."""
        super().__init__(plan, caps, progress=progress, controller=controller,
                         extra_pids=extra_pids, leaf_qdiscs=leaf_qdiscs,
                         controller_process=controller_process)
        self.where = {n: int(k) for n, k in where.items()}
        self.servers = list(servers)
        names = [h.name for h in plan.hosts] + [s.name for s in plan.switches]
        for n in names:
            if not 0 <= self.where.get(n, -1) <= len(servers):
                raise FabricTwinError(f"placement: node {n!r} has no server (0..{len(servers)})")
        self.tunnels: list[LinkPlan] = [x for x in plan.links
                                        if self.where[x.u] != self.where[x.v]]
        self._vni = 1 + (os.getpid() % 4000) * 4000

    def _via(self, k: int) -> list[str]:
        return self.servers[k - 1].ssh() if k else []

    def _check_names(self) -> None:
        for link in self.plan.links:  # every server's names, not only this machine's
            check_name(link.intf_u), check_name(link.intf_v)
        super()._check_names()

    def _before_nodes(self) -> None:
        self._step("servers", self._check_servers)
        if self.controller is not None:  # its port, forwarded to each server's loopback
            port = self.controller.rsplit(":", 1)[1]
            for srv in self.servers:
                run(srv.control("forward", "-R", f"{port}:127.0.0.1:{port}"), timeout=30)

    def _node_class(self, name: str, local: type) -> dict[str, Any]:
        k = self.where[name]
        if not k:
            return {"cls": local}
        return {"cls": ClusterHost if local is Host else ClusterOVSSwitch,
                "ft_server": self.servers[k - 1]}

    def _per_server(self) -> Iterator[tuple[set[str], list[str]]]:
        """(the switches on each server, the command prefix that reaches it)."""
        for k in range(len(self.servers) + 1):
            yield {s.name for s in self.plan.switches if self.where[s.name] == k}, self._via(k)

    def _create_bridges(self) -> None:
        assert self.state is not None
        for only, via in self._per_server():
            ovs.create_bridges(self.plan, self.state.run_id, self._datapath(), self.controller,
                               only=only, via=via)

    def _load_flows(self) -> None:
        for only, via in self._per_server():
            ovs.load_flows(self.plan, only=only, via=via)

    def switch_ports(self) -> set[str]:
        """This machine's switch ports (queue telemetry and OVS socket buffers are local)."""
        return {intf for sw in self.plan.switches if not self.where[sw.name]
                for _, intf in sw.ports}

    def _check_servers(self) -> None:
        """Each server answers over ssh (this opens its shared connection), runs Open
        vSwitch, and shares this machine's kernel (its CLOCK_MONOTONIC)."""
        RUN_ROOT.mkdir(parents=True, exist_ok=True)  # the connections' sockets
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        for srv in self.servers:
            out = run(["sh", "-c", "cat /proc/sys/kernel/random/boot_id && "
                       "ovs-vsctl --timeout=5 show >/dev/null && echo ovs-ok"],
                      via=srv.ssh(), check=False, timeout=30)
            if "ovs-ok" not in out.stdout:
                raise FabricTwinError(f"server {srv.address}: no ssh or no Open vSwitch: "
                                      f"{(out.stderr or out.stdout).strip()[-200:]}")
            if out.stdout.split()[0] != boot:
                raise FabricTwinError(
                    f"server {srv.address} runs another kernel: the agents' common start "
                    "instant needs one clock (PTP-aligned CLOCK_REALTIME, docs/cluster.md)")

    def _make_links(self) -> None:
        plan = self.plan
        assert self.net is not None and self.state is not None
        alias = f"{ALIAS_PREFIX}{self.state.run_id}"
        lines: dict[int, list[str]] = {k: [] for k in range(len(self.servers) + 1)}
        up: dict[int, list[str]] = {k: [] for k in lines}
        hosts = {h.name for h in plan.hosts}

        def ns(node: str) -> str:
            return f"netns {self.node(node).pid}" if node in hosts else ""

        def address(k: int, peer: int) -> str:
            """Server k's tunnel address towards server ``peer``."""
            return self.servers[k - 1].address if k else self.servers[peer - 1].local_address

        def tunnel(link: LinkPlan, *ends: tuple[str, str, int, int]) -> None:
            """A VXLAN tunnel, one end (interface, its node or "" for the root name
            space, server, peer server) on each server."""
            vni = self._vni + self.tunnels.index(link)
            for intf, node, k, peer in ends:
                where_ns = ns(node) if node else ""
                lines[k].append(
                    f"link add name {intf} mtu {plan.mtu} {where_ns} type vxlan id {vni} "
                    f"local {address(k, peer)} remote {address(peer, k)} "
                    f"dstport {VXLAN_PORT} nolearning")
                if not where_ns:
                    up[k].append(intf)

        for link in plan.links:
            ku, kv = self.where[link.u], self.where[link.v]
            if link.delay_line:
                # the delay line runs on u's server between two veths; when v is on another
                # server its veth there is a tunnel end, joined to v's end of the tunnel
                a, b = f"{link.delay_line}a", f"{link.delay_line}b"
                lines[ku].append(f"link add name {link.intf_u} mtu {plan.mtu} {ns(link.u)} "
                                 f"type veth peer name {a} mtu {plan.mtu}")
                up[ku] += [a] + ([] if ns(link.u) else [link.intf_u])
                if ku == kv:
                    lines[ku].append(f"link add name {link.intf_v} mtu {plan.mtu} {ns(link.v)} "
                                     f"type veth peer name {b} mtu {plan.mtu}")
                    up[ku] += [b] + ([] if ns(link.v) else [link.intf_v])
                    continue
                tunnel(link, (b, "", ku, kv), (link.intf_v, link.v, kv, ku))
            elif ku == kv:
                lines[ku].append(f"link add name {link.intf_u} mtu {plan.mtu} {ns(link.u)} "
                                 f"type veth peer name {link.intf_v} mtu {plan.mtu} "
                                 f"{ns(link.v)}")
                up[ku] += [i for i, n in ((link.intf_u, link.u), (link.intf_v, link.v))
                           if not ns(n)]
            else:
                tunnel(link, (link.intf_u, link.u, ku, kv), (link.intf_v, link.v, kv, ku))
        for k in lines:
            ip_batch(lines[k] + [f"link set dev {n} alias {alias} up" for n in up[k]],
                     via=self._via(k))
        self._attach_links()

    def _copy_host_files(self) -> None:
        """The hosts' batch files, written here, to the same path on their servers
        (no shared file system needed for them)."""
        assert self.state is not None
        d = self.state.dir
        for k in range(1, len(self.servers) + 1):
            files = [f"{h.name}.{ext}" for h in self.plan.hosts if self.where[h.name] == k
                     for ext in ("ip", "tc")]
            if files:
                tar = subprocess.run(["tar", "-C", str(d), "-cf", "-", *files],
                                     capture_output=True, check=True).stdout
                proc = subprocess.run(on(self._via(k), ["sh", "-c", f"mkdir -p {d} && tar -C "
                                                        f"{d} -xf -"]), input=tar,
                                      capture_output=True, timeout=60)
                if proc.returncode:
                    raise FabricTwinError(f"copying host configuration to "
                                          f"{self.servers[k - 1].address} failed: "
                                          f"{proc.stderr.decode().strip()[-200:]}")

    def _shape_root(self) -> None:
        hosts = {h.name for h in self.plan.hosts}
        lines: dict[int, list[str]] = {k: [] for k in range(len(self.servers) + 1)}
        for link in self.plan.links:
            for intf, node in ((link.intf_u, link.u), (link.intf_v, link.v)):
                if node not in hosts:
                    lines[self.where[node]] += self._shaping(intf, link)
        for k, batch in lines.items():
            tc_batch(batch, via=self._via(k))

    def _start_delay_lines(self) -> None:
        """Each server's delay lines in one process there (on u's server for a cut
        link); a remote one ends with its ssh session (its parent, PR_SET_PDEATHSIG)."""
        assert self.state is not None
        by_server: dict[int, list[str]] = {}
        for link in self.plan.links:
            if link.delay_line:
                by_server.setdefault(self.where[link.u], []).extend(
                    [f"{link.delay_line}a", f"{link.delay_line}b", str(int(link.delay_ns))])
        for k, args in sorted(by_server.items()):
            argv = [sys.executable, "-m", "fabrictwin.fabric.delayline", *args]
            self.delay_procs.append(subprocess.Popen(
                on(self.servers[k - 1].ssh(tt=True), argv) if k else argv,
                stdin=subprocess.PIPE if k else subprocess.DEVNULL))
        self.state.pids += [p.pid for p in self.delay_procs]
        self.state.save()

    def stop(self) -> None:
        run_id = self.state.run_id if self.state is not None else None
        super().stop()  # the local part, and every node's shell (remote ones over ssh)
        for k, srv in enumerate(self.servers, start=1):
            via = self._via(k)
            try:
                if run_id is not None:
                    ovs.delete_bridges(ovs.our_bridges(run_id, via), via)
                    mine = set(self._intfs_on(k))
                    left = [n for n, alias in root_links(via).items()
                            if alias == f"{ALIAS_PREFIX}{run_id}" or n in mine]
                    ip_batch([f"link del dev {n}" for n in left], force=True, via=via)
                    run(["rm", "-rf", str(RUN_ROOT / run_id)], via=via, check=False)
            except FabricTwinError as e:
                log.warning("server %s: clean-up incomplete: %s", srv.address, e)
            # the shared ssh connection (and its port forward) ends with the run
            subprocess.run(srv.control("exit"), capture_output=True, timeout=10)
