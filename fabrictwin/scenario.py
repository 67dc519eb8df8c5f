"""Scenario files: what a run builds and drives. Strict: unknown keys are errors.

Keys so far: ``name``, ``description``, ``topology`` (a spec string, see
``fabrictwin topo list``). Later parts of fabrictwin add traffic and policy.
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
