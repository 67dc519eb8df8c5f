"""Scenario files: what a run builds and drives. Strict: unknown keys are errors.

Keys: ``name``, ``description``, ``topology`` (a spec string, see ``fabrictwin
topo list``) and, for ``fabrictwin run``, ``collective``, ``sizes``, ``algorithm``
and ``dilation``; ``policy`` names a controller policy file (see
:mod:`fabrictwin.controllers.policy`), relative to the scenario file. ``pfc`` is
``true``/``false`` or the lossless fabric's settings::

    pfc:
      buffer: 2MB          # per switch, for the lossless class (default 1MB)
      alpha: 4             # dynamic thresholds: XOFF = alpha x the free shared buffer
      watchdog: {detect_us: 10, restore_us: 25, action: drop}   # hardware time
      dci_lossy: true      # DCI links carry the RDMA class without PFC

``faults`` lists faults while each size of ``fabrictwin run`` runs, in ``--fault``'s
syntax (:mod:`fabrictwin.runs.faults`); ``--fault`` on the command line replaces them::

    faults: [link:d0l0r0-d0s0@20us, loss:d0n0g0-d0l0r0@10us/1%, controller@20us/100us]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from fabrictwin.controllers.policy import load_policy
from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.hardware.schema import FieldError, build, read_yaml, spec
from fabrictwin.runs.faults import Fault, parse_faults
from fabrictwin.topologies.registry import build_topology
from fabrictwin.units import parse_size_bytes

DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "default.yaml"
#: The demo's scale-across part: two DCs 10 km apart
TWO_DC_SCENARIO = Path(__file__).with_name("scenarios") / "two-dc.yaml"


@dataclass(frozen=True)
class WatchdogSettings:
    detect_us: float        # hardware time; the run dilates it
    restore_us: float
    action: str = "drop"    # or forward

    def __post_init__(self) -> None:
        for key in ("detect_us", "restore_us"):
            if not getattr(self, key) > 0:
                raise FieldError(key, f"must be positive, got {getattr(self, key)}")
        if self.action not in ("drop", "forward"):
            raise FieldError("action", f"expected drop or forward, got {self.action!r}")


def _read_buffer(value: Any, what: str) -> int:
    return parse_size_bytes(value, what)


def _read_alpha(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise FabricTwinError(f"{what}: expected a positive number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PfcSettings:
    buffer: int = spec(_read_buffer, default=1_000_000)  # bytes per switch
    alpha: float | None = spec(_read_alpha, default=None)
    watchdog: WatchdogSettings | None = spec(
        lambda v, what: build(WatchdogSettings, v, what), default=None)
    dci_lossy: bool = False  # DCI links without PFC (losses recovered by the transport)


def _read_pfc(value: Any, what: str) -> PfcSettings | None:
    if isinstance(value, dict):
        return build(PfcSettings, value, what)
    if not isinstance(value, bool):
        raise FabricTwinError(f"{what}: expected true, false or a mapping (buffer, alpha, "
                              f"watchdog), got {value!r}")
    return PfcSettings() if value else None


def _read_faults(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FabricTwinError(f"{what}: expected a list of fault specs (e.g. "
                              f"[link:U-V@20us, controller@20us/100us]), got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class Scenario:
    name: str
    topology: str
    description: str = ""
    collective: str = ""  # e.g. all_reduce: `fabrictwin run` drives it
    sizes: str = "1M:4M"  # one size or MIN:MAX, doubling as nccl-tests -f 2
    algorithm: str = "auto"
    dilation: float = 0.0  # 0: automatic
    policy: str = ""  # controller policy file, relative to the scenario file
    # lossless class with PFC (fabrictwin.fabric.pfc) while traffic runs; None: off
    pfc: PfcSettings | None = spec(_read_pfc, default=None)
    # faults while each size runs (`fabrictwin run`), in --fault's syntax
    faults: tuple[str, ...] = spec(_read_faults, default=())


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; errors name the file and the key path."""
    data = read_yaml(path)
    try:
        return build(Scenario, data)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{path}: {exc}") from None


def scenario_topology(scenario: Scenario, path: Path, library: ProfileLibrary) -> nx.Graph:
    try:
        return build_topology(scenario.topology, library)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{path}: topology: {exc}") from None


def scenario_policy(scenario: Scenario, path: Path) -> Path | None:
    """The scenario's controller policy file, checked now (one line naming the key)."""
    if not scenario.policy:
        return None

    policy = (Path(path).parent / scenario.policy).resolve()
    try:
        load_policy(policy)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{path}: policy: {exc}") from None
    return policy


def scenario_faults(scenario: Scenario, path: Path, g: nx.Graph, *,
                    controller: bool = True) -> list[Fault]:
    """The scenario's faults, checked against its topology (one line naming the entry)."""
    out = []
    for i, text in enumerate(scenario.faults):
        try:
            out += parse_faults([text], g, controller=controller)
        except FabricTwinError as exc:
            raise FabricTwinError(f"{path}: faults[{i}]: "
                                  f"{str(exc).removeprefix('--fault ')}") from None
    return out
