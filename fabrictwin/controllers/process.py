"""The controller as its own process: command line, and an API to run it as a subprocess.

Command line (also ``fabrictwin controller``)::

    python -m fabrictwin.controllers --topo SPEC [--port 6653] [--policy FILE.yaml]
        [--log FILE.jsonl] [--dilation D] [--queue-source MODULE:CALLABLE]

It listens on 127.0.0.1 only. Bad input, or a port already in use, ends it with one
line on stderr and exit status 2 before anything listens. SIGTERM and SIGINT stop it
at once (switches keep their flows: their fail mode is secure).

What it expects of the bridges: ``fail-mode=secure``; ``protocols`` with OpenFlow13
and, so that ECMP hashes RoCEv2's UDP source port, OpenFlow14 and OpenFlow15 (see
:mod:`fabrictwin.controllers.ofp`); DPIDs from
:func:`fabrictwin.hardware.addressing.switch_dpid` in the graph's switch order;
OpenFlow port numbers as the graph's edge attribute ``ports``; no static flows. Hosts
keep the MACs and IPs of ``addressing``; static ARP may stay (ARP requests that do reach
a switch are answered by the controller, never flooded).

From Python (the emulator)::

    with start_controller("fat_tree,k=4", port=6653, log=run_dir / "controller.jsonl",
                          dilation=plan.dilation) as ctl:
        ...  # ovs-vsctl set-controller BR tcp:127.0.0.1:6653 for every bridge
        ctl.wait_switches(len(plan.switches), timeout_s=30)
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType

from fabrictwin.controllers.core import PolicyCore
from fabrictwin.controllers.decisions import DecisionLog, read_decisions
from fabrictwin.controllers.messages import Decision
from fabrictwin.controllers.policy import Policy, load_policy
from fabrictwin.controllers.telemetry import load_queue_source
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.linux.procs import stop_process
from fabrictwin.topologies.registry import build_topology

log = logging.getLogger(__name__)
LISTEN_HOST = "127.0.0.1"
DEFAULT_PORT = 6653
NAMES_PREFIX = re.compile(r"[A-Za-z0-9]{1,3}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The controller's options (shared by ``python -m`` and ``fabrictwin controller``)."""
    p.add_argument("--topo", required=True, metavar="SPEC",
                   help="topology spec, the same as the emulation's (e.g. fat_tree,k=4)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"OpenFlow port on {LISTEN_HOST} (default {DEFAULT_PORT})")
    p.add_argument("--policy", metavar="FILE", help="policy YAML (default: all defaults)")
    p.add_argument("--log", metavar="FILE", help="decision log, JSON lines (appended)")
    p.add_argument("--dilation", type=float, default=1.0,
                   help="the emulation's time dilation D (port rates are hardware / D)")
    p.add_argument("--queue-source", metavar="MODULE:CALLABLE",
                   help="queue backlog telemetry: CALLABLE(graph) returns a QueueTelemetry")
    p.add_argument("--names-prefix", default="", metavar="PREFIX",
                   help="the emulation's prefix before its switch port names (a run "
                        "beside others; default none)")


def check_port_free(port: int, host: str = LISTEN_HOST) -> None:
    """Fail with one line if ``host:port`` cannot be listened on (os-ken would only log)."""
    if not 0 < port < 65536:
        raise FabricTwinError(f"--port: must be 1..65535, got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as os-ken binds it
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise FabricTwinError(f"--port {port}: {host}:{port} is already in use") \
                    from None
            raise FabricTwinError(f"--port {port}: cannot listen on {host}:{port}: "
                                  f"{exc.strerror}") from None


def run_controller(args: argparse.Namespace) -> int:
    """Build the core from the arguments, then serve until stopped."""
    if not args.dilation > 0:
        raise FabricTwinError(f"--dilation: must be positive, got {args.dilation:g}")
    policy = load_policy(args.policy) if args.policy else Policy()
    prefix = getattr(args, "names_prefix", "")
    if prefix and not NAMES_PREFIX.fullmatch(prefix):
        raise FabricTwinError(f"--names-prefix {prefix!r}: expected up to 3 letters or digits")
    g = build_topology(args.topo, ProfileLibrary.from_user(getattr(args, "profiles", None)))
    g.graph["names_prefix"] = prefix
    source = None
    if args.queue_source:
        source = load_queue_source(args.queue_source, g)
    check_port_free(args.port)
    cpu0 = time.process_time()
    core = PolicyCore(g, policy, dilation=args.dilation)
    routes_cpu_s = time.process_time() - cpu0
    from fabrictwin.controllers.app import Runtime, serve  # the os_ken import

    decisions = DecisionLog(args.log)
    decisions.write([Decision(time.time(), "start", {
        "spec": args.topo, "port": args.port, "pid": os.getpid(), "dilation": args.dilation,
        "policy": args.policy, "switches": len(core.fabric.switches),
        "hosts": len(core.fabric.hosts), "routes_cpu_s": round(routes_cpu_s, 4)})])

    def stop(signum: int, _frame: FrameType | None) -> None:
        # os-ken's native threads cannot be joined while its server blocks in accept():
        # close the log and leave at once.
        decisions.write([Decision(time.time(), "stop", {"signal": signum})])
        decisions.close()
        logging.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("controller for %s on %s:%d (routes in %.3f s CPU)", args.topo, LISTEN_HOST,
             args.port, routes_cpu_s)
    serve(Runtime(core, decisions, source), args.port, LISTEN_HOST)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fabrictwin.controllers",
                                description="fabrictwin's OpenFlow 1.3 controller")
    add_arguments(p)
    p.add_argument("--profiles", action="append", metavar="DIR",
                   help="directory of user hardware profiles (also $FABRICTWIN_PROFILES)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_controller(args)
    except FabricTwinError as exc:
        print(f"fabrictwin: error: {exc}", file=sys.stderr)
        return 2


# -- as a subprocess -----------------------------------------------------------------------
def listening(port: int, host: str = LISTEN_HOST, pid: int | None = None) -> bool:
    """Whether a TCP socket listens on ``host:port`` (owned by ``pid``, if given).

    Read from /proc, so no connection is made to the controller.
    """
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    try:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    except OSError:  # not Linux: ask by connecting
        with socket.socket() as s:
            return s.connect_ex((host, port)) == 0
    inodes = {r[9] for r in rows if r[1] == want and r[3] == "0A"}  # 0A: LISTEN
    if pid is None or not inodes:
        return bool(inodes)
    try:
        fds = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(f"socket:[{i}]" in fds for i in inodes)


class ControllerProcess:
    """A running controller subprocess; stop() (or leaving the ``with``) ends it."""

    def __init__(self, proc: subprocess.Popen[str], port: int, log_path: Path,
                 stderr_path: Path, cmd: list[str] | None = None) -> None:
        self.proc, self.port, self.log_path, self.stderr_path = proc, port, log_path, stderr_path
        self.cmd = cmd  # what started it: restart() runs it again

    @property
    def address(self) -> str:
        """What ``ovs-vsctl set-controller BRIDGE`` takes."""
        return f"tcp:{LISTEN_HOST}:{self.port}"

    def decisions(self) -> list[dict]:
        return read_decisions(self.log_path) if self.log_path.exists() else []

    def _failed(self) -> FabricTwinError:
        lines = self.stderr_path.read_text().strip().splitlines() if \
            self.stderr_path.exists() else []
        last = lines[-1] if lines else f"exit status {self.proc.returncode}"
        return FabricTwinError(f"controller: {last.removeprefix('fabrictwin: error: ')}")

    def wait_listening(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not listening(self.port, pid=self.proc.pid):
            if self.proc.poll() is not None:
                raise self._failed()
            if time.monotonic() > deadline:
                self.stop()
                raise FabricTwinError(f"controller: not listening on port {self.port} "
                                      f"after {timeout_s:g} s")
            time.sleep(0.05)

    def wait_switches(self, count: int, timeout_s: float = 60.0, since: float = 0.0) -> float:
        """Wait until ``count`` switches have acknowledged their full install (at or after
        ``since``, Unix time: a restarted controller's); return when."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = {d["switch"]: d["t"] for d in self.decisions()
                     if d["kind"] == "switch_ready" and d["t"] >= since}
            if len(ready) >= count:
                return max(ready.values())
            if self.proc.poll() is not None:
                raise self._failed()
            if time.monotonic() > deadline:
                raise FabricTwinError(f"controller: {len(ready)} of {count} switches "
                                      f"configured after {timeout_s:g} s")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> int:
        return stop_process(self.proc, timeout_s)  # type: ignore[return-value]

    def restart(self, timeout_s: float = 30.0) -> None:
        """Start it again (after :meth:`stop`) with the same arguments, on the same port;
        return once it listens. The bridges reconnect by themselves (their fail mode is
        secure: they kept their flows meanwhile) and it reinstalls every switch."""
        if self.cmd is None:
            raise FabricTwinError("controller: not started by start_controller, cannot restart")
        if self.proc.poll() is None:
            self.stop()
        with self.stderr_path.open("a") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, text=True,
                                         start_new_session=True)
        self.wait_listening(timeout_s)

    def __enter__(self) -> ControllerProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_controller(spec: str, port: int = DEFAULT_PORT, *, policy: Path | str | None = None,
                     log: Path | str | None = None, dilation: float = 1.0,
                     queue_source: str | None = None, profiles: list[str] | None = None,
                     names_prefix: str = "", timeout_s: float = 30.0) -> ControllerProcess:
    """Start the controller subprocess and return once it listens on 127.0.0.1:``port``.

    The decision log defaults to a fresh temporary file; the subprocess's stderr goes
    beside it (``.stderr``). Bad arguments raise :class:`FabricTwinError` with the
    controller's own one-line message.
    """
    check_port_free(port)  # the common failure, at once and in the caller's words
    if log is None:
        log = Path(tempfile.mkdtemp(prefix="fabrictwin-ctl-")) / "controller.jsonl"
    log_path = Path(log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path = log_path.with_suffix(".stderr")
    cmd = [sys.executable, "-m", "fabrictwin.controllers", "--topo", spec, "--port", str(port),
           "--log", str(log_path), "--dilation", repr(float(dilation))]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    if queue_source is not None:
        cmd += ["--queue-source", queue_source]
    if names_prefix:
        cmd += ["--names-prefix", names_prefix]
    for d in profiles or []:
        cmd += ["--profiles", d]
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, text=True, start_new_session=True)
    ctl = ControllerProcess(proc, port, log_path, stderr_path, cmd)
    ctl.wait_listening(timeout_s)
    return ctl
