"""Traffic classes of a RoCEv2 fabric, and the egress queues every switch port carries.

Three classes, as a RoCEv2 fabric runs them:

============  =====  ========  ==============================================
class         DSCP   queue id  scheduling
============  =====  ========  ==============================================
``cnp``       48     2         strict priority (CNPs must not wait behind data)
``lossless``  26     1         PFC priority 3, ECN-marked on congestion
``default``   other  0         lossy best effort
============  =====  ========  ==============================================

DSCP 26 (AF31) and priority 3 are the common defaults for RoCEv2 data; a controller
policy may choose others (``controllers.policy.ClassPolicy``). The controller tags
packets with a queue; the emulator builds the queues; both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

QUEUE_DEFAULT, QUEUE_LOSSLESS, QUEUE_CNP = 0, 1, 2
#: DSCP of the lossless (PFC-protected) RoCE class; 26 (AF31) is the common default.
DSCP_LOSSLESS = 26
#: DSCP of congestion notification packets.
DSCP_CNP = 48
#: 802.1p priority of the lossless class: the one PFC pauses.
LOSSLESS_PRIORITY = 3
LOSSLESS_SHARE = 0.5
CNP_SHARE = 0.05


@dataclass(frozen=True)
class QueueSpec:
    """One egress queue of every switch port."""

    queue_id: int
    traffic_class: str
    dscp: tuple[int, ...]  # DSCP values classified into it (empty: everything else)
    pfc_priority: int | None  # 802.1p priority PFC pauses in hardware (lossless only)
    strict: bool  # served before every non-strict queue
    lossless: bool  # PFC-protected in hardware: congestion marks, never drops
    ecn: bool  # congestion marks CE on it
    min_share: float  # guaranteed share of the port rate
    sched_prio: int  # scheduling order (0 first), e.g. HTB ``prio``


def queue_specs(*, lossless_dscp: int = DSCP_LOSSLESS, cnp_dscp: int = DSCP_CNP,
                lossless_priority: int = LOSSLESS_PRIORITY,
                lossless_share: float = LOSSLESS_SHARE, cnp_share: float = CNP_SHARE,
                ecn: bool = True) -> tuple[QueueSpec, ...]:
    """The queues every switch port carries, by queue id.

    >>> [(q.traffic_class, q.dscp, q.pfc_priority) for q in queue_specs()]
    [('default', (), None), ('lossless', (26,), 3), ('cnp', (48,), None)]
    """
    return (
        QueueSpec(QUEUE_DEFAULT, "default", (), None, False, False, False,
                  1.0 - lossless_share - cnp_share, 2),
        QueueSpec(QUEUE_LOSSLESS, "lossless", (lossless_dscp,), lossless_priority, False,
                  True, ecn, lossless_share, 1),
        QueueSpec(QUEUE_CNP, "cnp", (cnp_dscp,), None, True, False, False, cnp_share, 0),
    )


def lossless_of(queues: tuple[QueueSpec, ...]) -> QueueSpec:
    """The lossless class's queue among ``queues``."""
    return next(q for q in queues if q.lossless)
