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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from mininet.link import Intf, Link
from mininet.net import Mininet
from mininet.node import Host, OVSSwitch

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric import ovs
from fabrictwin.fabric.plan import EmulationPlan, LinkPlan
from fabrictwin.fabric.probe import Capabilities
from fabrictwin.fabric.queues import CREDIT_TIERS, default_queues, tc_lines
from fabrictwin.fabric.state import ALIAS_PREFIX, RunState, new_run, remove_run
from fabrictwin.linux.commands import ip_batch, root_links, tc_batch
from fabrictwin.linux.names import check_name
from fabrictwin.linux.procs import stop_all

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
        for intf in self._root_intfs():
            check_name(intf)
        clash = sorted(set(self._root_intfs()) & set(root_links()))
        if clash:
            raise FabricTwinError(f"interface {clash[0]} already exists (another run? "
                                  "`sudo fabrictwin clean` removes a killed run's leftovers)")
        self.state = new_run()
        net = self.net = Mininet(topo=None, build=False, controller=None, autoSetMacs=False,
                                 autoStaticArp=False, waitConnected=False)
        self._step("hosts", lambda: [net.addHost(h.name, cls=Host, ip=None) for h in plan.hosts])
        self.state.pids = self.extra_pids + [h.shell.pid for h in net.hosts]
        self.state.save()
        self._step("switches", lambda: [
            net.addSwitch(s.bridge, cls=OVSSwitch, dpid=s.dpid, failMode="secure",
                          datapath="kernel" if self.caps.kernel_datapath else "user",
                          protocols="OpenFlow13") for s in plan.switches])
        self._step("links", self._make_links)
        datapath = "system" if self.caps.kernel_datapath else "netdev"
        self._step("bridges", lambda: ovs.create_bridges(plan, self.state.run_id, datapath,
                                                         self.controller))
        if self.controller is None:
            self._step("flows", lambda: ovs.load_flows(plan))
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
    def _root_intfs(self) -> list[str]:
        """Interfaces this run creates in the root namespace."""
        hosts = {h.name for h in self.plan.hosts}
        names = []
        for link in self.plan.links:
            names += [i for i, n in ((link.intf_u, link.u), (link.intf_v, link.v))
                      if n not in hosts]
            if link.delay_line:
                names += [f"{link.delay_line}a", f"{link.delay_line}b"]
        return names

    def node(self, name: str) -> Host | OVSSwitch:
        """The Mininet node of the plan's host or switch ``name`` (a switch's Mininet name
        is its bridge's, with the run's prefix)."""
        assert self.net is not None
        return self.net.nameToNode[self._bridges.get(name, name)]

    def _make_links(self) -> None:
        net, plan = self.net, self.plan
        assert net is not None and self.state is not None
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
        host_by_name = {h.name: h for h in plan.hosts}
        for link in plan.links:
            intfs = []
            for intf, node, port in ((link.intf_u, link.u, link.port_u),
                                     (link.intf_v, link.v, link.port_v)):
                obj = self.node(node)
                i = Intf(intf, node=obj, port=port, moveIntfFn=_no_move)
                if node in host_by_name:  # so Mininet's IP()/MAC() and its CLI work
                    i.ip, i.prefixLen, i.mac = host_by_name[node].ip, 32, host_by_name[node].mac
                intfs.append(i)
            net.links.append(PrebuiltLink(*intfs))

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
