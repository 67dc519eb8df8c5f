"""Start and stop the PFC daemon beside a running emulation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.ovs_txbuf import (
    RX_BUFFER_BYTES,
    TX_BUFFER_BYTES,
    datapath_lost,
    raised_tx_buffer,
    socket_drops,
    tx_dropped,
)
from fabrictwin.fabric.pfc.setup import PfcSetup
from fabrictwin.linux.procs import stop_process


class PfcDaemon:
    """A running daemon; after the ``with`` block, :attr:`result` holds its counters."""

    def __init__(self, proc: subprocess.Popen[bytes], out_dir: Path) -> None:
        self.proc = proc
        self.series_path = out_dir / "pfc-series.jsonl"
        self.result_path = out_dir / "pfc.json"
        self.result: dict[str, Any] = {}

    def series(self) -> list[dict[str, Any]]:
        if not self.series_path.exists():
            return []
        return [json.loads(line) for line in self.series_path.read_text().splitlines() if line]


@contextmanager
def pfc_daemon(emu: Any, setup: PfcSetup, out_dir: Path) -> Iterator[PfcDaemon]:
    """The daemon for ``emu``'s switches; recorded in the run state so `clean` can end it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ready = out_dir / "pfc.ready"
    ready.unlink(missing_ok=True)
    cfg = {**setup.daemon, "series": str(out_dir / "pfc-series.jsonl"),
           "result": str(out_dir / "pfc.json"), "ready": str(ready)}
    cfg_path = out_dir / "pfc-config.json"
    cfg_path.write_text(json.dumps(cfg))
    log_path = out_dir / "pfc.log"
    with open(log_path, "wb") as log_file:  # the child keeps its own copy
        proc = subprocess.Popen([sys.executable, "-m", "fabrictwin.fabric.pfc.daemon",
                                 "--config", str(cfg_path)], stderr=log_file)
    if emu.state is not None:
        emu.state.pids.append(proc.pid)
        emu.state.save()
    daemon = PfcDaemon(proc, out_dir)

    def last_error() -> str:
        lines = log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"pfc daemon exited with {proc.returncode}"

    ok = False
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            if proc.poll() is not None:
                raise FabricTwinError(last_error())
            if time.monotonic() > deadline:
                raise FabricTwinError("pfc daemon did not start within 20 s")
            time.sleep(0.02)
        yield daemon
        ok = True
    finally:
        died = proc.poll() is not None  # before we asked it to stop: it failed
        stop_process(proc, 10)
        if daemon.result_path.exists():
            daemon.result = json.loads(daemon.result_path.read_text())
    if ok and (died or proc.returncode != 0):
        raise FabricTwinError(f"pfc daemon failed during the run: {last_error()}")


#: ovs-vswitchd's buffers during a lossless run: its one send socket must hold every
#: queue of the run, its ports' receive sockets a moment of falling behind (ovs_txbuf)


@contextmanager
def lossless_run(emu: Any, setup: PfcSetup, out_dir: Path) -> Iterator[PfcDaemon]:
    """OVS's buffers raised and the PFC daemon running; on the way out the daemon's result
    also counts the frames OVS dropped (``ovs_port_drops``, ``ovs_socket_drops``, both
    added to ``lossless_drops``) and the packets its datapath lost in upcalls
    (``ovs_datapath_lost``, any class). Enter once all pairs are reachable: the switch's send
    socket exists only after it has forwarded."""

    ports = {p["intf"] for p in setup.daemon["ports"]}
    with raised_tx_buffer(TX_BUFFER_BYTES, RX_BUFFER_BYTES, ports):
        ovs0, sock0, lost0 = tx_dropped(ports), socket_drops(), datapath_lost()
        with pfc_daemon(emu, setup, out_dir) as daemon:
            yield daemon
        port_drops = sum(v - ovs0.get(k, 0) for k, v in tx_dropped(ports).items())
        sock_drops = socket_drops() - sock0
        lost = datapath_lost() - lost0
    r = daemon.result
    # the datapath's lost upcalls are of every class (PFC frames, ARP too): beside the
    # lossless drops, not in them
    r.update(ovs_port_drops=port_drops, ovs_socket_drops=sock_drops, ovs_datapath_lost=lost,
             lossless_drops=r.get("lossless_drops", 0) + port_drops + sock_drops)
