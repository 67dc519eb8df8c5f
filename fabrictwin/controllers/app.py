"""The os-ken app shim: the one module that imports os_ken (or Ryu, where that is installed).

It turns OpenFlow events into calls on the policy core, sends what the core returns
(translated by :func:`to_ofp`), runs the telemetry loop and writes the decision log.
All core calls and the sends that follow them hold one lock: os-ken 4.x runs handlers
and the telemetry loop on separate native threads.

Messages for a switch go out as one buffer (one socket write per event, not one per
flow-mod), and every batch ends with a barrier whose reply times it: a switch's first
install is logged as ``switch_ready``, a reroute as ``reroute_installed`` once every
switch it touched has replied.

A switch that speaks none of the controller's OpenFlow versions is refused with one
line on stderr and one ``error`` decision naming it: before closing, the controller
asks the switch its DPID in the switch's own version (the features request is the
same 8-byte header in every version), so the line says which bridge to fix.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

try:
    import os_ken as _ofbase
except ImportError:  # pragma: no cover - only where Ryu is what is installed
    import ryu as _ofbase  # type: ignore[no-redef]

from fabrictwin.controllers.core import PolicyCore
from fabrictwin.controllers.decisions import DecisionLog
from fabrictwin.controllers.messages import Barrier, Decision, Message, Step
from fabrictwin.controllers.ofp import to_ofp
from fabrictwin.controllers.telemetry import QueueTelemetry

_BASE = _ofbase.__name__
app_manager = importlib.import_module(f"{_BASE}.base.app_manager")
ofp_event = importlib.import_module(f"{_BASE}.controller.ofp_event")
handler = importlib.import_module(f"{_BASE}.controller.handler")
hub = importlib.import_module(f"{_BASE}.lib.hub")
ofproto_v1_3 = importlib.import_module(f"{_BASE}.ofproto.ofproto_v1_3")
ofproto_v1_4 = importlib.import_module(f"{_BASE}.ofproto.ofproto_v1_4")
ofproto_v1_5 = importlib.import_module(f"{_BASE}.ofproto.ofproto_v1_5")
ofp_handler = importlib.import_module(f"{_BASE}.controller.ofp_handler")
set_ev_cls = handler.set_ev_cls
CONFIG, MAIN, DEAD = handler.CONFIG_DISPATCHER, handler.MAIN_DISPATCHER, handler.DEAD_DISPATCHER

log = logging.getLogger(__name__)

# the same in every OpenFlow version, like the header and the error message's layout
OFPT_ERROR, OFPT_FEATURES_REQUEST = 1, 5
OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE = 0, 0
REFUSAL_XID = 0xFFFFFFF0
DPID_WAIT_S = 2.0  # for the features reply of a refused switch
OF_NAMES = {1: "1.0", 2: "1.1", 3: "1.2", 4: "1.3", 5: "1.4", 6: "1.5"}


def of_names(versions: Any) -> str:
    return ", ".join(OF_NAMES.get(v, f"0x{v:02x}") for v in sorted(versions))


# -- version negotiation -------------------------------------------------------------------
# os-ken's handshake handler refuses a switch of another OpenFlow version with a log line
# naming only the socket address (the DPID comes later, in the features reply). These
# wrappers remember what the switch's hello offered and hand the refusal to the app.
_refuse_hook: list[Any] = []  # the app's refuse(datapath, reason), once it exists
_os_ken_hello = ofp_handler.OFPHandler.hello_handler
_os_ken_hello_failed = ofp_handler.OFPHandler._hello_failed


def _hello_handler(self: Any, ev: Any) -> None:
    msg = ev.msg
    offered = {v for e in getattr(msg, "elements", None) or []
               for v in getattr(e, "versions", ())}
    msg.datapath.fabrictwin_hello = (msg.version, offered or {msg.version})
    _os_ken_hello(self, ev)


def _hello_failed(self: Any, datapath: Any, error_desc: str) -> None:
    if _refuse_hook and hasattr(datapath, "fabrictwin_hello"):
        _refuse_hook[0](datapath, error_desc)
    else:
        _os_ken_hello_failed(self, datapath, error_desc)


_hello_handler.callers = _os_ken_hello.callers  # type: ignore[attr-defined]
ofp_handler.OFPHandler.hello_handler = _hello_handler
ofp_handler.OFPHandler._hello_failed = _hello_failed


# -- the app -------------------------------------------------------------------------------
@dataclass
class Runtime:
    """What the app is given: the core, the log, and where queue backlog comes from."""

    core: PolicyCore
    log: DecisionLog
    queue_source: QueueTelemetry | None = None
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Batch:
    kind: str
    t0: float
    waiting: set[int]
    data: dict


class FabricTwinController(app_manager.OSKenApp if hasattr(app_manager, "OSKenApp")
                           else app_manager.RyuApp):  # type: ignore[misc]
    # OpenFlow 1.3 messages throughout, but 1.5 where the bridge offers it: only 1.5 can
    # make select groups hash UDP ports. 1.4 must be accepted too: os-ken's hello carries
    # no version bitmap, so a 1.3+1.4 bridge settles on 1.4.
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION, ofproto_v1_4.OFP_VERSION, ofproto_v1_5.OFP_VERSION]

    def __init__(self, *args: Any, fabrictwin: Runtime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rt = fabrictwin
        self.core = fabrictwin.core
        self.lock = threading.RLock()
        self.datapaths: dict[int, Any] = {}
        self.barriers: dict[tuple[int, int], int] = {}  # (dpid, xid) -> batch
        self.batches: dict[int, _Batch] = {}
        self.batch_ids = itertools.count(1)
        self.port_desc: dict[int, dict[int, bool]] = {}
        self.port_tx: dict[int, dict[int, int]] = {}
        self._queue_error_logged = False
        self._warned_udp_hash = False
        self.refusing: dict[Any, str] = {}  # datapath -> os-ken's reason, until its DPID
        self.refused: set[tuple[int | None, str]] = set()  # said once per DPID/versions
        _refuse_hook[:] = [self.refuse]

    def start(self) -> Any:
        thread = super().start()
        self.threads.append(hub.spawn(self._telemetry_loop))
        return thread

    # -- sending ---------------------------------------------------------------------------
    def _apply(self, step: Step, kind: str | None = None, t0: float = 0.0,
               data: dict | None = None) -> None:
        """Send a step's messages (one buffer per switch) and log its decisions.

        With ``kind``, the last barrier sent to each switch closes a timed batch.
        """
        self.rt.log.write(step.decisions)
        by_dpid: dict[int, list[Message]] = {}
        for m in step.messages:
            by_dpid.setdefault(m.dpid, []).append(m)
        batch_id = next(self.batch_ids) if kind else 0
        waiting = set()
        for dpid, msgs in by_dpid.items():
            dp = self.datapaths.get(dpid)
            if dp is None:
                continue  # not connected: it gets its full state when it connects
            bufs = []
            last_barrier = None
            for m in msgs:
                ofmsg = to_ofp(dp, m)
                xid = dp.set_xid(ofmsg)
                if isinstance(m, Barrier):
                    last_barrier = xid
                ofmsg.serialize()
                bufs.append(ofmsg.buf)
            if kind and last_barrier is not None:
                self.barriers[(dpid, last_barrier)] = batch_id
                waiting.add(dpid)
            dp.send(b"".join(bufs))
        if waiting:
            self.batches[batch_id] = _Batch(kind or "", t0, waiting, data or {})

    def _with_barriers(self, step: Step) -> Step:
        """``step`` with a closing barrier on every switch it sends to."""
        dpids = dict.fromkeys(m.dpid for m in step.messages)
        return Step(step.messages + tuple(Barrier(d) for d in dpids), step.decisions)

    # -- switch events ---------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG)
    def _features(self, ev: Any) -> None:
        dp, dpid, t0 = ev.msg.datapath, ev.msg.datapath_id, time.time()
        with self.lock:
            if self.core.switch_of(dpid) is None:
                log.warning("datapath %016x is not in %s: ignored", dpid, self.core.spec)
                return
            self.datapaths[dpid] = dp
            self.port_desc.pop(dpid, None)
            version = f"1.{dp.ofproto.OFP_VERSION - 1}"
            if version != "1.5" and not self._warned_udp_hash:
                self._warned_udp_hash = True
                log.warning("%s speaks OpenFlow %s: its ECMP groups cannot hash UDP ports "
                            "(add OpenFlow15 to the bridges' protocols)",
                            self.core.switch_of(dpid), version)
            self._apply(self.core.switch_up(dpid, t0), "switch_ready", t0,
                        {"switch": self.core.switch_of(dpid), "openflow": version})

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, [CONFIG, MAIN])
    def _port_desc(self, ev: Any) -> None:
        msg = ev.msg
        dp, ofp = msg.datapath, msg.datapath.ofproto
        states = self.port_desc.setdefault(dp.id, {})
        for port in msg.body:
            states[port.port_no] = _port_up(ofp, port)
        if msg.flags & ofp.OFPMPF_REPLY_MORE:
            return
        t0 = time.time()
        with self.lock:
            step = self.core.port_snapshot(dp.id, self.port_desc.pop(dp.id, {}), t0)
            self._apply(self._with_barriers(step), "reroute_installed", t0)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN)
    def _port_status(self, ev: Any) -> None:
        msg, t0 = ev.msg, time.time()
        dp, ofp = msg.datapath, msg.datapath.ofproto
        up = msg.reason != ofp.OFPPR_DELETE and _port_up(ofp, msg.desc)
        with self.lock:
            step = self.core.port_status(dp.id, msg.desc.port_no, up, t0)
            self._apply(self._with_barriers(step), "reroute_installed", t0)

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN, DEAD])
    def _state_change(self, ev: Any) -> None:
        dp = ev.datapath
        if ev.state != DEAD or dp.id is None:
            return
        t0 = time.time()
        with self.lock:
            if self.datapaths.get(dp.id) is not dp:
                return  # an older connection of a switch that has reconnected
            del self.datapaths[dp.id]
            step = self.core.switch_down(dp.id, t0)
            self._apply(self._with_barriers(step), "reroute_installed", t0)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, [CONFIG, MAIN])
    def _barrier(self, ev: Any) -> None:
        dpid, now = ev.msg.datapath.id, time.time()
        with self.lock:
            batch_id = self.barriers.pop((dpid, ev.msg.xid), None)
            batch = self.batches.get(batch_id) if batch_id else None
            if batch is None:
                return
            batch.waiting.discard(dpid)
            if batch.waiting:
                return
            del self.batches[batch_id]
            key = "install_s" if batch.kind == "switch_ready" else "since_event_s"
            self.rt.log.write([Decision(now, batch.kind, {**batch.data,
                                                          key: round(now - batch.t0, 6)})])

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN)
    def _packet_in(self, ev: Any) -> None:
        msg = ev.msg
        with self.lock:
            self._apply(self.core.packet_in(msg.datapath.id, msg.match["in_port"],
                                            bytes(msg.data), time.time()))

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [handler.HANDSHAKE_DISPATCHER, CONFIG, MAIN])
    def _error(self, ev: Any) -> None:
        msg = ev.msg
        if getattr(msg.datapath, "fabrictwin_refused", False):
            return  # a refused switch answering the refusal: said already
        ofp = msg.datapath.ofproto
        failed = ofp.ofp_msg_type_to_str(msg.data[1]) if len(msg.data) >= 2 else "?"
        switch = self.core.switch_of(msg.datapath.id) if msg.datapath.id else None
        log.warning("OpenFlow error from %s: type %d code %d (%s)", switch, msg.type,
                    msg.code, failed)
        self.rt.log.write([Decision(time.time(), "of_error", {
            "switch": switch, "type": msg.type, "code": msg.code, "msg_type": failed})])

    # -- a switch of another OpenFlow version -----------------------------------------------
    def refuse(self, dp: Any, reason: str) -> None:
        """Ask the switch its DPID in its own version, then refuse it (or on timeout)."""
        version, _offered = dp.fabrictwin_hello
        with self.lock:
            self.refusing[dp] = reason
        dp.send(struct.pack("!BBHI", version, OFPT_FEATURES_REQUEST, 8, REFUSAL_XID))
        hub.spawn(self._refuse_later, dp)

    def _refuse_later(self, dp: Any) -> None:
        hub.sleep(DPID_WAIT_S)
        self._report_refusal(dp, None)

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, handler.HANDSHAKE_DISPATCHER)
    def _features_refused(self, ev: Any) -> None:
        self._report_refusal(ev.msg.datapath, ev.msg.datapath_id)

    def _report_refusal(self, dp: Any, dpid: int | None) -> None:
        with self.lock:
            reason = self.refusing.pop(dp, None)
            if reason is None:
                return  # reported already (features reply, then the timeout)
            version, offered = dp.fabrictwin_hello
            switch = self.core.switch_of(dpid) if dpid is not None else None
            ours = of_names(self.OFP_VERSIONS)
            who = (f"switch {switch or '(not in ' + self.core.spec + ')'} "
                   f"dpid {dpid:016x}" if dpid is not None else "switch (DPID unknown)")
            key = (dpid, of_names(offered))
            if key not in self.refused:
                self.refused.add(key)
                host, port = (dp.address or ("?", 0))[:2]
                log.error("%s at %s:%s speaks OpenFlow %s, this controller %s: refused "
                          "(add OpenFlow13 to the bridge's protocols)", who, host, port,
                          of_names(offered), ours)
                self.rt.log.write([Decision(time.time(), "error", {
                    "error": "openflow_version", "switch": switch,
                    "dpid": None if dpid is None else f"{dpid:016x}",
                    "switch_versions": sorted(OF_NAMES.get(v, str(v)) for v in offered),
                    "controller_versions": sorted(OF_NAMES[v] for v in self.OFP_VERSIONS),
                    "hello_version": OF_NAMES.get(version, str(version)),
                    "address": f"{host}:{port}", "detail": reason})])
        # HELLO_FAILED/INCOMPATIBLE in the switch's own version (the same layout in
        # all): in ours, the switch would answer with an error of its own.
        data = reason.encode()[:256]
        dp.fabrictwin_refused = True
        dp.send(struct.pack("!BBHIHH", version, OFPT_ERROR, 12 + len(data), REFUSAL_XID,
                            OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE) + data, close_socket=True)

    # -- telemetry -------------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN)
    def _port_stats(self, ev: Any) -> None:
        msg = ev.msg
        dp, ofp = msg.datapath, msg.datapath.ofproto
        counters = self.port_tx.setdefault(dp.id, {})
        for stat in msg.body:
            counters[stat.port_no] = stat.tx_bytes
        if msg.flags & ofp.OFPMPF_REPLY_MORE:
            return
        with self.lock:
            self._apply(self.core.port_stats(dp.id, self.port_tx.pop(dp.id, {}), time.time()))

    def _telemetry_loop(self) -> None:
        policy = self.core.policy
        interval = policy.telemetry_interval_s
        # Port counters drive only adaptive routing; otherwise they are logged once a
        # second, sparing the userspace switches a stats request per port every tick.
        every = 1 if policy.routing == "adaptive" else max(1, round(1.0 / interval))
        for tick in itertools.count():
            if self.rt.stop.is_set():
                return
            t0 = time.monotonic()
            self._telemetry_tick(port_stats=tick % every == 0)
            self.rt.stop.wait(max(0.0, interval - (time.monotonic() - t0)))

    def _telemetry_tick(self, port_stats: bool = True) -> None:
        """Sample the queues; ask every switch for its port counters (replies come later)."""
        if self.rt.queue_source is not None:
            self._sample_queues()
        if not port_stats:
            return
        with self.lock:
            dps = list(self.datapaths.values())
        for dp in dps:
            dp.send_msg(dp.ofproto_parser.OFPPortStatsRequest(dp, 0, dp.ofproto.OFPP_ANY))

    def _sample_queues(self) -> None:
        try:
            sample = self.rt.queue_source.sample()  # type: ignore[union-attr]
        except Exception:  # a broken source must not stop routing; say so once
            if not self._queue_error_logged:
                log.exception("queue telemetry source failed (logged once)")
                self._queue_error_logged = True
            return
        with self.lock:
            self._apply(self.core.queue_sample(sample))


def _port_up(ofp: Any, desc: Any) -> bool:
    return not (desc.config & ofp.OFPPC_PORT_DOWN) and not (desc.state & ofp.OFPPS_LINK_DOWN)


def serve(runtime: Runtime, port: int, host: str = "127.0.0.1") -> None:
    """Listen for switches on ``host:port`` and run until the process is stopped.

    This is ``AppManager.run_apps`` with the runtime handed to the app as a keyword
    (run_apps passes only contexts); os-ken 4.x has no manager command.
    """
    cfg = importlib.import_module(f"{_BASE}.cfg")
    importlib.import_module(f"{_BASE}.controller.controller")  # registers the ofp options
    cfg.CONF(args=[], project=_BASE, default_config_files=[])
    cfg.CONF.set_override("ofp_listen_host", host)
    cfg.CONF.set_override("ofp_tcp_listen_port", port)
    mgr = app_manager.AppManager.get_instance()
    mgr.load_apps([__name__])
    contexts = mgr.create_contexts()
    services = mgr.instantiate_apps(fabrictwin=runtime, **contexts)
    try:
        hub.joinall(services)
    finally:
        runtime.stop.set()
        mgr.close()
