"""What a run created, recorded so `fabrictwin clean` can remove a killed run's leftovers.

Each run has an id ``ft<pid>`` and a directory ``/run/fabrictwin/<id>/`` holding
``state.json`` (its pid and the pids of the processes it started) and its batch
files. Its OVS bridges carry ``external_ids:fabrictwin-run=<id>`` and its
root-namespace interfaces the alias ``fabrictwin:<id>``; nothing else is touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fabrictwin.fabric import ovs
from fabrictwin.fabric.ovs_txbuf import restore_leftover
from fabrictwin.linux.commands import ip_batch, root_links

log = logging.getLogger(__name__)
RUN_ROOT = Path("/run/fabrictwin")
ALIAS_PREFIX = "fabrictwin:"


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


def clean() -> list[str]:
    """Remove the leftovers of every fabrictwin run whose process is gone."""
    runs: dict[str, list[int]] = {}
    if RUN_ROOT.is_dir():
        for d in RUN_ROOT.iterdir():
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
    removed: list[str] = []
    for run_id, pids in sorted(runs.items()):
        removed += remove_run(run_id, pids)

    return removed + restore_leftover()


def _run_alive(run_id: str) -> bool:
    return run_id.startswith("ft") and run_id[2:].isdigit() and _alive(int(run_id[2:]))
