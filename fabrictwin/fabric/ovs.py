"""Open vSwitch: make sure it runs, configure bridges in one transaction, load flows."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.plan import EmulationPlan
from fabrictwin.linux.commands import run
from fabrictwin.linux.names import check_name

log = logging.getLogger(__name__)
#: the longest a bridge waits between tries to reach its controller
MAX_BACKOFF_MS = 1000
OVS_CTL = Path("/usr/share/openvswitch/scripts/ovs-ctl")
RUN_TAG = "fabrictwin-run"  # external_ids key marking our bridges


def ovs_running(via: Sequence[str] = ()) -> bool:
    return run(["ovs-vsctl", "--timeout=3", "show"], check=False, timeout=10,
               via=via).returncode == 0


def ensure_ovs() -> str:
    """Start ovsdb-server and ovs-vswitchd when they are not running; return what was done."""
    if ovs_running():
        return "running"
    if not OVS_CTL.exists():
        raise FabricTwinError("Open vSwitch is not installed (run `sudo make setup`)")
    # ovs-ctl tries to load the kernel module and carries on without it (userspace datapath).
    proc = run([str(OVS_CTL), "start", "--system-id=random"], check=False, timeout=60)
    for _ in range(50):
        if ovs_running():
            return "started"
        time.sleep(0.1)
    first = (proc.stderr or proc.stdout).strip().splitlines()
    raise FabricTwinError("Open vSwitch: cannot start ovsdb-server/ovs-vswitchd"
                          + (f": {first[-1]}" if first else ""))


def create_bridges(plan: EmulationPlan, run_id: str, datapath: str,
                   controller: str | None = None, *, only: Collection[str] | None = None,
                   via: Sequence[str] = ()) -> None:
    """All bridges and ports of ``plan`` in one ovs-vsctl transaction.

    With ``controller`` every bridge connects to it (out-of-band, fail-mode secure:
    without the controller nothing is forwarded). ``only``: the switches (plan names)
    to make; ``via``: on another server (:func:`fabrictwin.linux.commands.run`).
    """
    if controller is not None and not re.fullmatch(r"tcp:127\.0\.0\.1:\d{1,5}", controller):
        raise FabricTwinError(f"controller {controller!r}: must be tcp:127.0.0.1:PORT")
    args = ["ovs-vsctl", "--timeout=120"]
    for sw in plan.switches:
        if only is not None and sw.name not in only:
            continue
        br = check_name(sw.bridge)
        args += ["--", "add-br", br, "--", "set", "bridge", br,
                 f"datapath_type={datapath}", "fail-mode=secure",
                 "protocols=OpenFlow13,OpenFlow14,OpenFlow15",
                 f"other-config:datapath-id={sw.dpid}", "other-config:disable-in-band=true",
                 f"external-ids:{RUN_TAG}={run_id}"]
        if controller is not None:
            # a restarted controller is found within 1 s (OVS backs off to 8 s by default)
            args += ["--", "set-controller", br, controller,
                     "--", "set", "controller", br, f"max_backoff={MAX_BACKOFF_MS}"]
        for port, intf in sw.ports:
            args += ["--", "add-port", br, check_name(intf), "--", "set", "interface", intf,
                     f"ofport_request={port}"]
            if plan.mtu != 1500:
                args += [f"mtu_request={plan.mtu}"]
    if len(args) > 2:
        run(args, timeout=300, via=via)


def load_flows(plan: EmulationPlan, workers: int = 8, *, only: Collection[str] | None = None,
               via: Sequence[str] = ()) -> None:
    """Each switch's flow table from ``plan``, several ovs-ofctl processes at a time
    (``only``, ``via``: as :func:`create_bridges`)."""

    def load(sw_name: str, flows: Sequence[str]) -> None:
        # One OpenFlow 1.4 bundle per switch: ~10x faster than flow-mods one by one
        # on a busy userspace ovs-vswitchd, and the table changes atomically.
        run(["ovs-ofctl", "-O", "OpenFlow14", "--bundle", "add-flows", sw_name, "-"],
            input_text="\n".join(flows) + "\n", via=via)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(load, sw.bridge, sw.flows) for sw in plan.switches
                if sw.flows and (only is None or sw.name in only)]:
            f.result()


def bridge_runs(via: Sequence[str] = ()) -> dict[str, str]:
    """Every bridge tagged by fabrictwin, with the run id it carries."""
    if not ovs_running(via):
        return {}
    out = run(["ovs-vsctl", "--timeout=10", "--format=csv", "--data=bare", "--no-headings",
               "--columns=name,external_ids", "list", "bridge"], via=via).stdout
    tagged = {}
    for line in out.splitlines():
        name, _, ids = line.partition(",")
        for tok in ids.split():
            if tok.startswith(f"{RUN_TAG}="):
                tagged[name] = tok.split("=", 1)[1]
    return tagged


def our_bridges(run_id: str | None = None, via: Sequence[str] = ()) -> list[str]:
    """Bridges tagged by fabrictwin (by any run, or by ``run_id``)."""
    return sorted(b for b, r in bridge_runs(via).items() if run_id is None or r == run_id)


def delete_bridges(names: Sequence[str], via: Sequence[str] = ()) -> None:
    if names:
        args = ["ovs-vsctl", "--timeout=120"]
        for n in names:
            args += ["--", "--if-exists", "del-br", check_name(n)]
        run(args, timeout=300, via=via)
