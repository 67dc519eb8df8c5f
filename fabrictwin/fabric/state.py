"""What a run created, recorded so `fabrictwin clean` can remove a killed run's leftovers.

Each run has an id ``ft<pid>`` and a directory ``/run/fabrictwin/<id>/`` holding
``state.json`` (its pid and the pids of the processes it started) and its batch
files. Its OVS bridges carry ``external_ids:fabrictwin-run=<id>`` and its
root-namespace interfaces the alias ``fabrictwin:<id>``; nothing else is touched.

Runs at once: each run process holds a name slot (an ``flock`` on
``/run/fabrictwin/slots/<k>``, let go by the kernel when the process ends) and
prefixes the names it makes in the root name space (bridges, switch ports, delay
lines) with :func:`slot_prefix` of it: the first run's names are unprefixed.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric import ovs
from fabrictwin.fabric.ovs_txbuf import restore_leftover
from fabrictwin.linux.commands import ip_batch, root_links

log = logging.getLogger(__name__)
RUN_ROOT = Path("/run/fabrictwin")
ALIAS_PREFIX = "fabrictwin:"
SLOT_DIR = RUN_ROOT / "slots"
#: runs at once on one machine (prefixes R1..R9 after the unprefixed first)
MAX_SLOTS = 10


def slot_prefix(slot: int) -> str:
    """The prefix of the root-namespace names of the run in ``slot``.

    Upper case, which no topology builder uses, so no prefixed name is another run's.

    >>> slot_prefix(0), slot_prefix(3)
    ('', 'R3')
    """
    return "" if slot == 0 else f"R{slot}"


@functools.cache
def run_prefix() -> str:
    """This process's name prefix: the first free slot, held until the process ends.

    One per process, like the run id ``ft<pid>``: every emulation a process brings up
    (one after another) uses the same names.
    """
    slot, path, fd = claim_slot(SLOT_DIR)
    atexit.register(_release_slot, path, fd)
    log.debug("run %d: name slot %d", os.getpid(), slot)
    return slot_prefix(slot)


def claim_slot(slot_dir: Path) -> tuple[int, Path, int]:
    """The first slot in ``slot_dir`` no other process holds: (slot, its file, the locked
    descriptor, whose closing lets go of it)."""
    for slot in range(MAX_SLOTS):
        path = slot_dir / str(slot)
        fd = -1
        for _ in range(2):  # another run's exit may remove the directory in between
            slot_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
                break
            except FileNotFoundError:
                continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # a run that let go of the slot may have unlinked the file we opened
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise BlockingIOError
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return slot, path, fd
    raise FabricTwinError(f"{MAX_SLOTS} fabrictwin runs are going already (slots in "
                          f"{slot_dir}); wait for one to end")


def _release_slot(path: Path, fd: int) -> None:
    path.unlink(missing_ok=True)  # while still holding it: the next run makes a new one
    os.close(fd)
    with contextlib.suppress(OSError):
        SLOT_DIR.rmdir()  # the last run out leaves nothing behind


def _unheld_slots() -> list[Path]:
    """Slot files no process holds (left by a run that was killed)."""
    out = []
    for path in SLOT_DIR.glob("*") if SLOT_DIR.is_dir() else ():
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.append(path)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return out


@dataclass
class RunState:
    run_id: str
    pid: int
    pids: list[int] = field(default_factory=list)  # host shells, delay lines

    @property
    def dir(self) -> Path:
        return RUN_ROOT / self.run_id

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps({"run_id": self.run_id, "pid": self.pid, "pids": self.pids}))
        tmp.replace(self.dir / "state.json")


def new_run() -> RunState:
    state = RunState(f"ft{os.getpid()}", os.getpid())
    state.save()
    return state


def _alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0, ...) would signal our own process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(pid: int) -> bool:
    """A process we started: a Mininet host shell, a delay line, the controller, the PFC
    daemon or a PFC storm."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return any(tag in cmd for tag in (b"mininet:", b"fabrictwin.fabric.delayline",
                                      b"fabrictwin.controllers", b"fabrictwin.fabric.pfc",
                                      b"fabrictwin.traffic.pfcstorm"))


def remove_run(run_id: str, pids: list[int], names: list[str] | None = None) -> list[str]:
    """Remove one run's bridges, interfaces, processes and directory; say what went.

    ``names``: interfaces the (live) run knows it created, removed even if untagged.
    """
    removed = []
    for pid in pids:
        if _alive(pid) and _ours(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid}")
            except ProcessLookupError:
                pass
    bridges = ovs.our_bridges(run_id)
    wanted = set(names or ())
    intfs = [n for n, alias in root_links().items()
             if alias == f"{ALIAS_PREFIX}{run_id}" or n in wanted]
    # Both are slow (kernel RCU per veth, OVS per port) and independent: overlap them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(ovs.delete_bridges, bridges),
                pool.submit(ip_batch, [f"link del dev {n}" for n in intfs], force=True)]
        for job in jobs:
            job.result()
    removed += [f"bridge {b}" for b in bridges]
    removed += [f"interface {n}" for n in intfs]
    if (RUN_ROOT / run_id).exists():
        shutil.rmtree(RUN_ROOT / run_id, ignore_errors=True)
        removed.append(f"run directory {RUN_ROOT / run_id}")
    return removed


RUN_ID = re.compile(r"ft[0-9]{1,10}")


def clean(run_id: str | None = None) -> list[str]:
    """Remove the leftovers of every fabrictwin run whose process is gone (or only of
    ``run_id``'s, which must be gone: a live run cleans up after itself)."""
    if run_id is not None:
        if not RUN_ID.fullmatch(run_id):
            raise FabricTwinError(f"--run {run_id!r}: expected a run id like ft12345 "
                                  "(ft and the run's process id)")
        if _run_alive(run_id):
            raise FabricTwinError(f"--run {run_id}: that run is still going (stop it with "
                                  "Ctrl-C or kill: it cleans up after itself)")
    runs: dict[str, list[int]] = {}
    if RUN_ROOT.is_dir():
        for d in RUN_ROOT.iterdir():
            if d == SLOT_DIR:
                continue
            try:
                data = json.loads((d / "state.json").read_text())
            except (OSError, ValueError):  # killed before its state was written
                pid = d.name[2:] if d.name.startswith("ft") else ""
                data = {"pid": int(pid) if pid.isdigit() else 0, "pids": []}
            if not d.is_dir():
                continue
            if not _alive(int(data.get("pid", 0))):
                runs[d.name] = [int(p) for p in data.get("pids", [])]
    # Tagged bridges and interfaces of runs that left no state directory.
    for bridge_run in {r for r in ovs.bridge_runs().values() if not _run_alive(r)}:
        runs.setdefault(bridge_run, [])
    for alias in set(root_links().values()):
        if alias.startswith(ALIAS_PREFIX) and not _run_alive(alias[len(ALIAS_PREFIX):]):
            runs.setdefault(alias[len(ALIAS_PREFIX):], [])
    if run_id is not None:
        return remove_run(run_id, runs.get(run_id, []))
    removed: list[str] = []
    for dead, pids in sorted(runs.items()):
        removed += remove_run(dead, pids)
    for path in _unheld_slots():
        path.unlink(missing_ok=True)
        removed.append(f"name slot {path}")
    with contextlib.suppress(OSError):
        SLOT_DIR.rmdir()  # only when empty

    return removed + restore_leftover()


def _run_alive(run_id: str) -> bool:
    return run_id.startswith("ft") and run_id[2:].isdigit() and _alive(int(run_id[2:]))
