"""Two runs at once on one machine (root): each in its own names, both complete, nothing
left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fabrictwin.fabric import ovs
from fabrictwin.linux.commands import root_links

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="emulation needs root")]

SPEC = "leaf_spine,leaves=2,spines=2,hosts_per_leaf=2"


def start(out: Path, sizes: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fabrictwin", "run", "--collective", "allreduce", "--topo",
         SPEC, "--sizes", sizes, "--json", "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_bridges(run: subprocess.Popen[str], timeout_s: float = 120) -> dict[str, str]:
    """The run's four bridges, once they all exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        bridges = {b: r for b, r in ovs.bridge_runs().items() if r == f"ft{run.pid}"}
        if len(bridges) == 4:
            return bridges
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        time.sleep(0.2)
    raise AssertionError("the first run's bridges never appeared")


def test_two_runs_at_once_complete_in_their_own_names(tmp_path: Path) -> None:
    before_links, before_bridges = set(root_links()), set(ovs.bridge_runs())
    first = start(tmp_path / "a", "4M:16M")
    second = None
    try:
        mine = wait_for_bridges(first)
        # the second starts while the first's fabric is up; it has PFC, so both share
        # the raised switch buffers too
        second = start(tmp_path / "b", "4M", "--pfc")
        theirs = wait_for_bridges(second)
        # both fabrics up at once, in different names
        assert first.poll() is None and set(mine) <= set(ovs.bridge_runs())
        assert not set(mine) & set(theirs)
        outs = [p.communicate(timeout=600) for p in (first, second)]
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.terminate()  # as Ctrl-C: the run tears its fabric down
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    docs = []
    for p, (out, err) in zip((first, second), outs, strict=True):
        assert p.returncode == 0, err[-800:]
        docs.append(json.loads(out))
    a, b = docs
    # each run's names are the same fabric's under its own prefix (the first run on the
    # machine gets none; under the test suite, which holds one, R1 and R2)
    pa, pb = a["emulation"]["names_prefix"], b["emulation"]["names_prefix"]
    assert pa != pb
    assert sorted(m.removeprefix(pa) for m in mine) == sorted(t.removeprefix(pb) for t in theirs)
    assert all(t.startswith(pb) for t in theirs) and all(m.startswith(pa) for m in mine)
    for doc in docs:
        for row in doc["results"]:
            assert row["ok"] and row["lost_bytes"] == 0, row
    # nothing of either is left: interfaces, bridges, name slots, run directories
    assert set(root_links()) <= before_links
    assert set(ovs.bridge_runs()) <= before_bridges
    slots = Path("/run/fabrictwin/slots")  # (the suite's own slot may be there)
    held = {f.read_text().strip() for f in slots.iterdir()} if slots.is_dir() else set()
    assert not held & {str(first.pid), str(second.pid)}
    assert not any((Path("/run/fabrictwin") / f"ft{p.pid}").exists() for p in (first, second))
    out = subprocess.run([sys.executable, "-m", "fabrictwin", "clean"], capture_output=True,
                         text=True, check=True)
    assert "0 leftovers removed" in out.stdout
