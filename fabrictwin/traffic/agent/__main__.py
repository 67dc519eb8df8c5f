"""The agent's command line: ``python -m fabrictwin.traffic.agent --config FILE.json``.

Reads and checks the configuration (one line and exit 2 if it is bad), ties the agent's
life to its parent's, runs it and writes its result (exit 0 when every transfer
completed, 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.procs import die_with_parent
from fabrictwin.traffic.agent.core import Agent
from fabrictwin.traffic.config import parse_config


def write_result(path: str, result: dict[str, Any]) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fabrictwin.traffic.agent",
                                 description="fabrictwin RoCEv2 endpoint agent")
    ap.add_argument("--config", required=True, help="agent configuration (JSON)")
    ap.add_argument("--result", help="where to write the result JSON (overrides the config)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="agent: %(message)s")
    try:
        cfg = parse_config(json.loads(Path(args.config).read_text()))
    except (OSError, json.JSONDecodeError) as e:
        print(f"agent: error: config: {e}", file=sys.stderr)
        return 2
    except FabricTwinError as e:
        print(f"agent: error: {e}", file=sys.stderr)
        return 2
    out = args.result or cfg.result
    die_with_parent(short_timers=True)  # short waits for the token bucket stay short
    agent = Agent(cfg)

    def on_term(_sig: int, _frame: object) -> None:
        agent.stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        agent.open()
        ok = agent.run()
    except FabricTwinError as e:
        print(f"agent: error: {e}", file=sys.stderr)
        agent.close()
        return 2
    agent.close()
    result = agent.result(ok)
    if out:
        write_result(out, result)
    else:
        json.dump(result, sys.stdout, indent=1)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
