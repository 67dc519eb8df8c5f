"""Running system commands (ip, tc, ovs-vsctl, ...) with clear one-line errors.

Every name that reaches a command line is validated first
(:func:`fabrictwin.linux.names.check_name`); commands are run without a shell.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence

from fabrictwin.errors import FabricTwinError

log = logging.getLogger(__name__)


def require_root() -> None:
    if os.geteuid() != 0:
        raise FabricTwinError("emulation needs root (namespaces, Open vSwitch): run with sudo")


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise FabricTwinError(f"missing {', '.join(missing)}: run `sudo make setup`")


def run(argv: Sequence[str], *, input_text: str | None = None, check: bool = True,
        timeout: float = 120.0, via: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; on failure raise one line naming the command and its first error line.

    ``via``: a command that runs its last argument on another machine (``ssh ... HOST``);
    ``argv`` is quoted for the remote shell.

    >>> on(["ssh", "srv"], ["ip", "link", "add", "a b"])
    ['ssh', 'srv', "ip link add 'a b'"]
    """
    argv = on(via, argv)
    log.debug("run: %s", " ".join(argv[:8]) + (" ..." if len(argv) > 8 else ""))
    try:
        proc = subprocess.run(list(argv), input=input_text, capture_output=True, text=True,
                              timeout=timeout)
    except FileNotFoundError:
        raise FabricTwinError(f"{argv[0]}: not installed (run `sudo make setup`)") from None
    except subprocess.TimeoutExpired:
        raise FabricTwinError(f"{argv[0]}: no answer within {timeout:g} s") from None
    if check and proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        # tc warns before it fails (e.g. an HTB quantum): the error is the line that matters
        errors = [x for x in lines if not x.startswith("Warning")] or lines
        raise FabricTwinError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed: "
                              f"{' / '.join(errors[:2]) if errors else f'exit {proc.returncode}'}")
    return proc


def on(via: Sequence[str], argv: Sequence[str]) -> list[str]:
    """``argv`` as run through ``via`` (nothing: here)."""
    return [*via, shlex.join(argv)] if via else list(argv)


def ip_batch(lines: Sequence[str], *, force: bool = False, via: Sequence[str] = ()) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``)."""
    if lines:
        run(["ip", *(["-force"] if force else []), "-batch", "-"],
            input_text="\n".join(lines) + "\n", check=not force, via=via)


def tc_batch(lines: Sequence[str], *, via: Sequence[str] = ()) -> None:
    if lines:
        run(["tc", "-batch", "-"], input_text="\n".join(lines) + "\n", via=via)


def route_source(address: str) -> str:
    """This machine's source address towards ``address`` (the local end of a tunnel)."""
    out = run(["ip", "-o", "route", "get", address]).stdout
    m = re.search(r"\bsrc\s+(\S+)", out)
    if not m:
        raise FabricTwinError(f"no route to {address}")
    return m.group(1)


def root_links(via: Sequence[str] = ()) -> dict[str, str]:
    """Interfaces of the root namespace: name -> alias ('' when none)."""
    out = run(["ip", "-o", "link", "show"], via=via).stdout
    links: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^\d+:\s+([^:@\s]+)", line)
        if m:
            alias = re.search(r"\\\s+alias\s+(\S+)", line)
            links[m.group(1)] = alias.group(1) if alias else ""
    return links
