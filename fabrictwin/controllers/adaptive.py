"""Adaptive routing (pure): re-weight ECMP buckets away from congested ports.

Policy, per ECMP group of a switch, at each port-statistics sample:

- a member port is *congested* when its utilisation reaches ``util_high`` or its
  queue backlog reaches the port's ECN Kmin;
- if no member, or every member, is congested, all buckets weigh 100 (plain ECMP:
  there is nowhere better to go);
- otherwise an uncongested member weighs 100 and a congested one weighs its spare
  capacity, ``100 * (1 - utilisation)``, but at least ``min_weight``. OVS hashes flows
  onto buckets by weight, so lowering a bucket's weight moves flows off that port;
- the new weights are sent only if some weight moved by ``min_change`` or more and
  the group was not re-weighted within the last ``hold_s`` seconds (no flapping).

Moving a flow can reorder its packets once; RoCEv2 NICs recover with go-back-N, which
is why changes are damped rather than made at every sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fabrictwin.controllers.policy import AdaptivePolicy

FULL = 100


def congested(util: float, backlog_bytes: float, kmin_bytes: float,
              policy: AdaptivePolicy) -> bool:
    return util >= policy.util_high or (backlog_bytes > 0 and backlog_bytes >= kmin_bytes)


def group_weights(ports: Iterable[int], util: Mapping[int, float],
                  hot: Mapping[int, bool], policy: AdaptivePolicy) -> dict[int, int]:
    """Bucket weights for an ECMP group over ``ports``; ``hot[p]``: p is congested."""
    ports = sorted(ports)
    n_hot = sum(bool(hot.get(p)) for p in ports)
    if n_hot in (0, len(ports)):
        return {p: FULL for p in ports}
    return {p: max(policy.min_weight, min(FULL, round(FULL * (1 - util.get(p, 0.0)))))
            if hot.get(p) else FULL for p in ports}


def worth_changing(old: Mapping[int, int], new: Mapping[int, int], last_change_s: float | None,
                   now_s: float, policy: AdaptivePolicy) -> bool:
    if last_change_s is not None and now_s - last_change_s < policy.hold_s:
        return False
    return any(abs(new[p] - old.get(p, FULL)) >= policy.min_change for p in new)
