"""What this machine offers the emulator, found by trying it (``fabrictwin doctor``).

Each capability is probed for real on a throw-away veth pair or datapath named
``ftprobe*``, removed again at once: the kernel openvswitch datapath, netem,
RED, HTB, TBF. The emulator uses the best mechanism found.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass

from fabrictwin.fabric import ovs
from fabrictwin.linux.commands import run

PROBE_A, PROBE_B = "ftprobe0", "ftprobe1"


@dataclass(frozen=True)
class Capabilities:
    root: bool
    ovs: str  # "running", "started", or why not
    kernel_datapath: bool
    netem: bool
    red: bool
    htb: bool
    tbf: bool
    tshark: bool
    fping: bool
    iperf3: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def rows(self) -> list[tuple[str, str, str]]:
        """(capability, found, what the emulator uses) for the doctor table."""
        dp = "kernel datapath (datapath=kernel)" if self.kernel_datapath else \
            "userspace datapath (datapath=user), tx checksum offload off on host veths"
        return [
            ("root", _yes(self.root), "required for namespaces and OVS"),
            ("Open vSwitch", self.ovs, "switches" if self.ovs in ("running", "started")
             else "none: emulation impossible"),
            ("kernel OVS datapath", _yes(self.kernel_datapath), dp),
            ("netem", _yes(self.netem), "link delay by netem" if self.netem
             else "link delay by a userspace delay line (>= 1 ms dilated)"),
            ("RED", _yes(self.red), "kernel ECN marking" if self.red
             else "ECN marking by the controller"),
            ("HTB", _yes(self.htb), "link rates" if self.htb else "-"),
            ("TBF", _yes(self.tbf), "link rates (fallback)" if self.tbf else "-"),
            ("tshark", _yes(self.tshark), "pcap checks" if self.tshark else "-"),
            ("fping", _yes(self.fping), "all-pairs reachability" if self.fping else "-"),
            ("iperf3", _yes(self.iperf3), "rate checks" if self.iperf3 else "-"),
        ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _qdisc_works(spec: list[str]) -> bool:
    ok = run(["tc", "qdisc", "replace", "dev", PROBE_A, "root", *spec], check=False)
    return ok.returncode == 0


def _kernel_datapath() -> bool:
    if not shutil.which("ovs-dpctl"):
        return False
    if run(["ovs-dpctl", "add-dp", "ftprobe"], check=False).returncode != 0:
        return False
    run(["ovs-dpctl", "del-dp", "ftprobe"], check=False)
    return True


def probe(start_ovs: bool = True) -> Capabilities:
    """Probe everything; start OVS when asked and possible. Needs root for most answers."""
    root = os.geteuid() == 0
    ovs_state = "not checked (needs root)"
    netem = red = htb = tbf = kdp = False
    if root:
        try:
            ovs_state = ovs.ensure_ovs() if start_ovs else (
                "running" if ovs.ovs_running() else "not running")
        except Exception as exc:  # noqa: BLE001 - reported, not raised: doctor lists it
            ovs_state = str(exc)
        kdp = _kernel_datapath()
        run(["ip", "link", "del", PROBE_A], check=False)
        if run(["ip", "link", "add", PROBE_A, "type", "veth", "peer", "name", PROBE_B],
               check=False).returncode == 0:
            try:
                netem = _qdisc_works(["netem", "delay", "1ms"])
                red = _qdisc_works(["red", "limit", "400000", "min", "30000", "max", "90000",
                                    "avpkt", "1000", "burst", "55", "probability", "0.02",
                                    "ecn"])
                htb = _qdisc_works(["handle", "1:", "htb", "default", "1"])
                tbf = _qdisc_works(["tbf", "rate", "1mbit", "burst", "32kbit", "latency",
                                    "10ms"])
            finally:
                run(["ip", "link", "del", PROBE_A], check=False)
    return Capabilities(root, ovs_state, kdp, netem, red, htb, tbf,
                        shutil.which("tshark") is not None, shutil.which("fping") is not None,
                        shutil.which("iperf3") is not None)
