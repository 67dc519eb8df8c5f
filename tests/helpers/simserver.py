"""A second emulation server simulated on this machine, for cluster-mode tests (root).

What a real second server has, made private here:
- its own network name space ``ftc<n>``, joined to the root name space by a veth
  pair with private addresses (10.250.<n>.1 here, .2 there);
- its own mount name space in which /run (so /var/run and /run/openvswitch),
  /etc/openvswitch, /var/lib/openvswitch and /var/log/openvswitch are private tmpfs,
  so its own ovsdb-server and ovs-vswitchd (userspace datapath) run beside this
  machine's, and its sshd's /run/sshd is its own;
- its own sshd listening only on its private address, root login with a key made
  for the test, no password; an ssh config file (``ssh -F``) with that key, its
  host key pinned, and one multiplexed connection.

It shares this machine's kernel (one CLOCK_MONOTONIC), process ids and the rest of
the file system (the run directory with the agents' configs and results, which real
servers would share over NFS).

    with SimServer() as srv:
        subprocess.run(srv.ssh("ovs-vsctl show"))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

#: private tmpfs in the server's mount name space (/var/run is /run on Debian)
PRIVATE_DIRS = ("/run", "/etc/openvswitch", "/var/lib/openvswitch", "/var/log/openvswitch")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def _alive(pid: int) -> bool:
    """Running (a zombie, waiting for its parent to reap it, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class SimServer:
    """Use as a context manager; leaves nothing behind (name space, veths, processes)."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else 1 + os.getpid() % 250
        self.netns = f"ftc{self.n}"
        self.veth = (f"ftc{self.n}a", f"ftc{self.n}b")
        self.local_address = f"10.250.{self.n}.1"
        self.address = f"10.250.{self.n}.2"
        self.dir = Path(tempfile.mkdtemp(prefix="ftcsrv"))
        self.sshd: subprocess.Popen[bytes] | None = None
        self.ssh_config = self.dir / "ssh_config"

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> SimServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        a, b = self.veth
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", a, "mtu", "9000", "type", "veth", "peer", "name", b,
             "mtu", "9000", "netns", self.netns)
        _run("ip", "addr", "add", f"{self.local_address}/30", "dev", a)
        _run("ip", "link", "set", a, "up")
        for cmd in ("link set lo up", f"addr add {self.address}/30 dev {b}", f"link set {b} up"):
            _run("ip", "-n", self.netns, *cmd.split())
        d = self.dir
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "id"))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host"))
        shutil.copy(d / "id.pub", d / "authorized_keys")
        (d / "known_hosts").write_text(f"{self.address} {(d / 'host.pub').read_text()}")
        (d / "sshd_config").write_text(f"""ListenAddress {self.address}
HostKey {d}/host
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxSessions 500
MaxStartups 100
""")
        self.ssh_config.write_text(f"""Host {self.address}
  User root
  IdentityFile {d}/id
  IdentitiesOnly yes
  UserKnownHostsFile {d}/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
  ControlMaster auto
  ControlPath {d}/cm-%C
  ControlPersist 60
""")
        mounts = "; ".join(f"mount -t tmpfs -o mode=0755 ftc-srv {p}" for p in PRIVATE_DIRS)
        script = (
            f"set -e; mount --make-rprivate /; {mounts}; mkdir -p /run/sshd /run/openvswitch; "
            "ovsdb-tool create /etc/openvswitch/conf.db "
            "/usr/share/openvswitch/vswitch.ovsschema; "
            "ovsdb-server /etc/openvswitch/conf.db --remote=punix:/run/openvswitch/db.sock "
            f"--pidfile={d}/ovsdb-server.pid --detach --no-chdir "
            "--log-file=/var/log/openvswitch/ovsdb-server.log; "
            "ovs-vsctl --no-wait init; "
            f"ovs-vswitchd --pidfile={d}/ovs-vswitchd.pid --detach --no-chdir "
            "--log-file=/var/log/openvswitch/ovs-vswitchd.log; "
            f"exec /usr/sbin/sshd -D -f {d}/sshd_config -E {d}/sshd.log")
        self.sshd = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "-m", "sh", "-c", script],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(d / "start.log", "wb"), start_new_session=True)  # noqa: SIM115
        deadline = time.monotonic() + 20
        while True:
            ok = subprocess.run(self.ssh("ovs-vsctl --timeout=2 show"), capture_output=True,
                                timeout=30).returncode == 0
            if ok:
                return
            if self.sshd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"simulated server did not start: "
                                   f"{(d / 'start.log').read_text()[-300:]}")
            time.sleep(0.2)

    def ssh(self, command: str) -> list[str]:
        """argv running ``command`` on the server."""
        return ["ssh", "-F", str(self.ssh_config), self.address, command]

    def pids(self) -> list[int]:
        """Processes in the server's network name space."""
        out = _run("ip", "netns", "pids", self.netns, check=False).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        subprocess.run(["ssh", "-F", str(self.ssh_config), "-O", "exit", self.address],
                       capture_output=True, timeout=10)
        daemons = []
        for name in ("ovs-vswitchd", "ovsdb-server", "sshd"):
            with contextlib.suppress(OSError, ValueError):
                daemons.append(int((self.dir / f"{name}.pid").read_text()))
        if self.sshd is not None:
            daemons.append(self.sshd.pid)
        deadline = time.monotonic() + 5
        netns = Path(f"/run/netns/{self.netns}")
        while left := [p for p in {*daemons, *(self.pids() if netns.exists() else [])}
                       if _alive(p)]:
            sig = signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            if self.sshd is not None:
                self.sshd.poll()  # reap it
            time.sleep(0.1)
        _run("ip", "netns", "del", self.netns, check=False)
        _run("ip", "link", "del", self.veth[0], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What of the server is still there (empty after stop)."""
        left = []
        if Path(f"/run/netns/{self.netns}").exists():
            left.append(f"netns {self.netns}")
        if _run("ip", "link", "show", self.veth[0], check=False).returncode == 0:
            left.append(f"interface {self.veth[0]}")
        if self.dir.exists():
            left.append(f"directory {self.dir}")
        return left
