"""ECN marking decisions (pure): a RED-like profile scaled by link speed.

Default profiles and their sources:

- ``dcqcn``: Kmin = 5 KB, Kmax = 200 KB, Pmax = 1 % at 40 Gb/s (Zhu et al., "Congestion
  Control for Large-Scale RDMA Deployments", SIGCOMM 2015, section 5).
- ``hpcc``: Kmin = 100 KB, Kmax = 400 KB per 25 Gb/s, Pmax = 20 % (the DCQCN settings of
  Li et al., "HPCC", SIGCOMM 2019, from alibaba-edu/High-Precision-Congestion-Control's
  ns-3 config: KMIN_MAP / KMAX_MAP / PMAX_MAP).

Thresholds scale linearly with the link rate (as both sources do between link speeds).
Time dilation leaves them unchanged: an emulated link runs at rate / D with latencies
x D, so its bandwidth-delay product, and the queue in bytes that matters, is the
hardware's. KB here is 1000 bytes.

Marking is applied per egress port by an OVS select group of two buckets, one setting
``ip_ecn=3`` (CE) and one not. OVS hashes each flow to pick a bucket, so the
probability is the share of *flows* (RoCEv2 QPs, told apart by their UDP source port)
marked while it holds, not of packets: OpenFlow has no per-packet random choice.

Open vSwitch picks a bucket of such a group (``hash`` selection, or its default one
when the weights do not fit its ``dp_hash`` table) by the highest ``U_i * weight_i``
with ``U_i`` a per-flow uniform hash per bucket (``group_best_live_bucket`` in
ofproto-dpif-xlate.c). Two buckets of weights a <= b then split flows a/(2b) to
1 - a/(2b), not a/(a+b); :func:`egress_buckets` inverts that.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabrictwin.controllers.messages import Bucket, Output, SetField

#: name -> (Kmin bytes, Kmax bytes, Pmax, reference rate b/s)
PRESETS: dict[str, tuple[float, float, float, float]] = {
    "dcqcn": (5e3, 200e3, 0.01, 40e9),
    "hpcc": (100e3, 400e3, 0.20, 25e9),
}
PERMILLE = 1000


@dataclass(frozen=True)
class RedProfile:
    """Marking probability 0 up to ``kmin_bytes``, rising linearly to ``pmax`` at
    ``kmax_bytes``, 1 above it; the thresholds hold at ``reference_rate_bps``."""

    kmin_bytes: float
    kmax_bytes: float
    pmax: float
    reference_rate_bps: float

    def scaled(self, rate_bps: float) -> RedProfile:
        """The profile for a link of ``rate_bps``: thresholds in proportion to the rate."""
        f = rate_bps / self.reference_rate_bps
        return RedProfile(self.kmin_bytes * f, self.kmax_bytes * f, self.pmax, rate_bps)


def preset(name: str) -> RedProfile:
    return RedProfile(*PRESETS[name])


def red_probability(backlog_bytes: float, profile: RedProfile) -> float:
    """The RED marking probability at a queue of ``backlog_bytes``."""
    if backlog_bytes <= profile.kmin_bytes:
        return 0.0
    if backlog_bytes <= profile.kmax_bytes:
        span = profile.kmax_bytes - profile.kmin_bytes
        return profile.pmax * (backlog_bytes - profile.kmin_bytes) / span
    return 1.0


def to_permille(p: float) -> int:
    """Probability as whole per-mille; any positive probability marks at least 1/1000."""
    if p <= 0:
        return 0
    return min(PERMILLE, max(1, round(p * PERMILLE)))


def hrw_weights(permille: int) -> tuple[int, int]:
    """Weights (marked, unmarked) that make OVS's highest-score choice mark ``permille``.

    With weights a <= b the marked share is a/(2b); with a > b it is 1 - b/(2a).
    """
    if permille <= PERMILLE // 2:
        return 2 * permille, PERMILLE
    return PERMILLE, 2 * (PERMILLE - permille)


def egress_buckets(port: int, permille: int) -> tuple[Bucket, ...]:
    """Buckets of the egress group of ``port``: mark ``permille``/1000 of flows CE.

    A partial share carries a third, weight-1 unmarked bucket (it wins ~1/2000 of
    flows). Its tiny weight keeps OVS from its default ``dp_hash`` selection, taken
    only when the weights fit its hash table: with ``dp_hash`` (OpenFlow 1.3 and 1.4,
    where no selection method can be set) this group and the ECMP group in front of it
    would select on the same hash value, so which flows get marked would follow the
    path they took.
    """
    out = Output(port)
    mark = (SetField("ip_ecn", 3), out)
    if permille <= 0:
        return (Bucket(1, (out,)),)
    if permille >= PERMILLE:
        return (Bucket(1, mark),)
    marked, plain = hrw_weights(permille)
    return (Bucket(marked, mark), Bucket(plain, (out,)), Bucket(1, (out,)))
