"""The controller's policy: a strict YAML file a scenario sets (unknown keys are errors).

Every key is optional::

    routing: ecmp              # ecmp | adaptive (re-weight ECMP away from congested ports)
    telemetry_interval_s: 100ms  # queue samples; port counters too when adaptive (else 1 s)
    arp: controller            # controller (answer from the topology) | drop
    ecn:
      enabled: true
      profile: dcqcn           # dcqcn | hpcc: the defaults below (see controllers.ecn)
      kmin_bytes: 5KB          # at reference_rate_bps; scaled by each port's rate
      kmax_bytes: 200KB
      pmax: 0.01
      reference_rate_bps: 40G
    adaptive:
      util_high: 0.8           # a port at or above this utilisation is congested
      min_weight: 1            # bucket weight (of 100) left on a congested port
      min_change: 10           # ignore weight changes smaller than this
      hold_s: 500ms            # at most one re-weighting of a group per hold time
    classes:
      lossless_dscp: 26        # RoCEv2 data, lossless class (PFC priority below)
      lossless_priority: 3
      cnp_dscp: 48             # congestion notification packets, strict priority
      lossless_share: 0.5      # guaranteed share of each port's rate (queue config)
      cnp_share: 0.05
    rate_limits_bps:           # OpenFlow meters per traffic class (hardware rates;
      default: 100G            # divided by the dilation like every emulated rate)

Bad values are rejected with one line naming the file and the key path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabrictwin.controllers.ecn import PRESETS, RedProfile
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.schema import FieldError, build, read_float, read_int, read_yaml, spec
from fabrictwin.units import parse_latency_ns, parse_rate_bps, parse_size_bytes

ROUTING_MODES = ("ecmp", "adaptive")
ARP_MODES = ("controller", "drop")
TRAFFIC_CLASSES = ("cnp", "default", "lossless")


def read_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise FabricTwinError(f"{what}: expected true or false, got {value!r}")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def read(value: Any, what: str) -> str:
        if value not in options:
            raise FabricTwinError(f"{what}: expected one of {', '.join(options)}, "
                                  f"got {value!r}")
        return str(value)

    return read


def read_seconds(value: Any, what: str) -> float:
    """A positive time: a plain number is seconds, a string carries its unit (100ms)."""
    if isinstance(value, str):
        seconds = parse_latency_ns(value, what) / 1e9
    else:
        seconds = read_float(value, what)
    if not seconds > 0:
        raise FabricTwinError(f"{what}: must be positive, got {value!r}")
    return seconds


def bounded(lo: float, hi: float, reader: Callable[[Any, str], Any] = read_float,
            open_lo: bool = False) -> Callable[[Any, str], Any]:
    def read(value: Any, what: str) -> Any:
        x = reader(value, what)
        if x < lo or x > hi or (open_lo and x == lo):
            raise FabricTwinError(f"{what}: must be {'above' if open_lo else 'at least'} "
                                  f"{lo:g} and at most {hi:g}, got {value!r}")
        return x

    return read


def read_rate_limits(value: Any, what: str) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, Mapping):
        raise FabricTwinError(f"{what}: expected a mapping of traffic class to rate")
    out = []
    for name, rate in value.items():
        if name not in TRAFFIC_CLASSES:
            raise FabricTwinError(f"{what}.{name}: unknown traffic class (expected one of "
                                  f"{', '.join(TRAFFIC_CLASSES)})")
        out.append((str(name), parse_rate_bps(rate, f"{what}.{name}")))
    return tuple(sorted(out))


@dataclass(frozen=True)
class EcnPolicy:
    enabled: bool = spec(read_bool, default=True)
    profile: str = spec(choice(tuple(PRESETS)), default="dcqcn")
    kmin_bytes: float | None = spec(parse_size_bytes, default=None)
    kmax_bytes: float | None = spec(parse_size_bytes, default=None)
    pmax: float | None = spec(bounded(0.0, 1.0, open_lo=True), default=None)
    reference_rate_bps: float | None = spec(parse_rate_bps, default=None)

    def __post_init__(self) -> None:
        red = self.red()
        if not red.kmax_bytes > red.kmin_bytes:
            raise FieldError("kmax_bytes", f"must exceed kmin_bytes ({red.kmin_bytes:g}), "
                             f"got {red.kmax_bytes:g}")

    def red(self) -> RedProfile:
        """The profile at its reference rate: the preset, with any key set here instead."""
        kmin, kmax, pmax, ref = PRESETS[self.profile]
        return RedProfile(
            kmin if self.kmin_bytes is None else float(self.kmin_bytes),
            kmax if self.kmax_bytes is None else float(self.kmax_bytes),
            pmax if self.pmax is None else self.pmax,
            ref if self.reference_rate_bps is None else self.reference_rate_bps)


@dataclass(frozen=True)
class AdaptivePolicy:
    util_high: float = spec(bounded(0.0, 1.0, open_lo=True), default=0.8)
    min_weight: int = spec(bounded(0, 100, read_int), default=1)
    min_change: int = spec(bounded(1, 100, read_int), default=10)
    hold_s: float = spec(read_seconds, default=0.5)


@dataclass(frozen=True)
class ClassPolicy:
    lossless_dscp: int = spec(bounded(0, 63, read_int), default=26)
    lossless_priority: int = spec(bounded(0, 7, read_int), default=3)
    cnp_dscp: int = spec(bounded(0, 63, read_int), default=48)
    lossless_share: float = spec(bounded(0.0, 1.0), default=0.5)
    cnp_share: float = spec(bounded(0.0, 1.0), default=0.05)

    def __post_init__(self) -> None:
        if self.cnp_dscp == self.lossless_dscp:
            raise FieldError("cnp_dscp", f"must differ from lossless_dscp ({self.lossless_dscp})")
        if self.lossless_share + self.cnp_share >= 1.0:
            raise FieldError("cnp_share", "lossless_share + cnp_share must leave a share "
                             f"for the default class, got {self.lossless_share + self.cnp_share:g}")


@dataclass(frozen=True)
class Policy:
    routing: str = spec(choice(ROUTING_MODES), default="ecmp")
    telemetry_interval_s: float = spec(read_seconds, default=0.1)
    arp: str = spec(choice(ARP_MODES), default="controller")
    ecn: EcnPolicy = field(default_factory=EcnPolicy)
    adaptive: AdaptivePolicy = field(default_factory=AdaptivePolicy)
    classes: ClassPolicy = field(default_factory=ClassPolicy)
    rate_limits_bps: tuple[tuple[str, float], ...] = spec(read_rate_limits, default=())


def policy_from_data(data: Any) -> Policy:
    """A policy from parsed YAML (``None``, an empty document, means all defaults)."""
    return build(Policy, {} if data is None else data)


def load_policy(path: Path | str) -> Policy:
    """Read and check a policy file; errors name the file and the key path."""
    data = read_yaml(Path(path))
    try:
        return policy_from_data(data)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{path}: {exc}") from None
