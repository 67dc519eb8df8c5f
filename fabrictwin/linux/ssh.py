"""Another machine reached by ssh as root, every command over one shared connection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Server:
    """Another emulation server, reached by ssh as ``user`` (root: no sudo needed).

    ``address``: what ssh connects to and tunnels end at; ``local_address``: this
    machine's address towards it (the local end of tunnels); ``ssh_config``: an
    ``ssh -F`` file (key, pinned host key, a ControlMaster so every command and node
    shell shares one connection)."""

    address: str
    local_address: str
    ssh_config: str = ""
    user: str = "root"

    def ssh(self, tt: bool = False) -> list[str]:
        """The command prefix that runs a command there: every command and node shell
        of a run shares one connection (ControlMaster, as Mininet's RemoteMixin)."""
        return ["ssh", *(["-F", self.ssh_config] if self.ssh_config else []),
                "-o", "ControlMaster=auto", "-o", f"ControlPath={SSH_CONTROL}",
                "-o", "ControlPersist=60", "-o", "BatchMode=yes",
                *(["-tt"] if tt else []), f"{self.user}@{self.address}"]

    def control(self, *args: str) -> list[str]:
        """``ssh -O ...`` to the shared connection (forward, exit)."""
        ssh = self.ssh()
        return [*ssh[:-1], "-O", *args, ssh[-1]]


#: the shared ssh connections' sockets (%C: a hash of user, host and port)
SSH_CONTROL = "/run/fabrictwin/ssh-%C"
