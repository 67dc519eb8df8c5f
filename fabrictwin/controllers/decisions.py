"""The decision log: one JSON object per line, so a run can be replayed and plotted.

Each line has ``t`` (Unix time, seconds), ``kind`` and the decision's figures:

=====================  ============================================================
kind                   figures
=====================  ============================================================
``start``              spec, policy, dilation, port, route computation CPU time
``switch_up``          switch, dpid, routes, ecmp_groups, messages
``switch_ready``       switch, install_s (features to barrier reply)
``reroute``            cause, switch, down/up ports, dead_links, routes_changed, ...
``reroute_installed``  since_event_s: port-status to every switch's barrier reply
``queues``             backlog_bytes per busy interface, when it changes
``ecn``                switch, port, backlog_bytes, kmin/kmax_bytes, p, permille
``util``               switch, utilisation of its ports that moved by 5 points or more
``adaptive``           switch, group, weights and utilisation per port
``arp_reply``          switch, port, target_mac
``of_error``           switch, type, code, msg_type of an OpenFlow error from a switch
``error``              error (``openflow_version``), switch, dpid, switch_versions,
                       controller_versions, address: a switch refused (once per DPID)
=====================  ============================================================
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

from fabrictwin.controllers.messages import Decision

log = logging.getLogger(__name__)


class DecisionLog:
    """Appends decisions to ``path`` (flushed per batch); without a path, to debug logging."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else None
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", buffering=1)

    def write(self, decisions: Iterable[Decision]) -> None:
        lines = [json.dumps(d.as_dict()) for d in decisions]
        if not lines:
            return
        with self._lock:  # the telemetry thread and event handlers both write
            if self._file is None:
                for line in lines:
                    log.debug("decision %s", line)
                return
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_decisions(path: Path | str) -> list[dict]:
    """Every complete line of a decision log (a line being written is skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
