"""Endpoint agents of one step of a run: their shell commands and their results."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.traffic.done import clear_marks


def linger_s(rto_ms: float, rtt_ms: float = 0.0) -> float:
    """The most a finished agent stays to re-acknowledge resent frames: one sender
    timeout plus a round trip, so a sender whose last ACK was lost in the fabric is
    answered when it resends (a shorter linger left it retrying to an exited peer).
    With ``done_dir`` set (:func:`agent_commands` does) it leaves as soon as the agents
    it receives from are done, so this bound costs time only when one is stuck."""
    return max(0.2, (rto_ms + 2 * rtt_ms) / 1000 * 1.25)


def agent_commands(configs: Mapping[int, dict[str, Any]], hosts: Sequence[str],
                   step_dir: Path) -> dict[str, str]:
    """Write each rank's config under ``step_dir``, with ``step_dir`` as the agents'
    ``done_dir``; the command its host runs, by host."""
    clear_marks(step_dir)
    commands = {}
    for rank, cfg in configs.items():
        path = step_dir / f"config-{rank}.json"
        path.write_text(json.dumps({**cfg, "done_dir": str(step_dir)}))
        commands[hosts[rank]] = (f"{shlex.quote(sys.executable)} -m fabrictwin.traffic.agent "
                                 f"--config {shlex.quote(str(path))}")
    return commands


def agent_results(configs: Mapping[int, dict[str, Any]], hosts: Sequence[str],
                  step_dir: Path, outputs: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every rank's result (``agent-{rank}.json``), with its host; one line naming the
    first host whose agent wrote none, with the end of what it printed."""
    results = []
    for rank in configs:
        path = step_dir / f"agent-{rank}.json"
        if not path.exists():
            raise FabricTwinError(f"agent on {hosts[rank]} wrote no result: "
                                  f"{outputs.get(hosts[rank], '').strip()[-200:]}")
        results.append({**json.loads(path.read_text()), "host": hosts[rank]})
    clear_marks(step_dir)
    return results
