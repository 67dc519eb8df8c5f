"""Scenario files: what a run builds and drives. Strict: unknown keys are errors.

Keys: ``name``, ``description``, ``topology`` (a spec string, see ``fabrictwin
topo list``) and, for ``fabrictwin run``, ``collective``, ``sizes``, ``algorithm``
and ``dilation``; ``policy`` names a controller policy file (see
:mod:`fabrictwin.controllers.config`), relative to the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.fabric.profiles import ProfileLibrary
from fabrictwin.fabric.schema import build, read_yaml
from fabrictwin.topologies.registry import build_topology

DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "default.yaml"


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
    pfc: bool = False  # lossless class with PFC (fabrictwin.fabric.pfc) while traffic runs


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
    from fabrictwin.controllers.config import load_policy

    policy = (Path(path).parent / scenario.policy).resolve()
    try:
        load_policy(policy)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{path}: policy: {exc}") from None
    return policy
