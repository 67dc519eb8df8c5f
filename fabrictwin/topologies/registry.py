"""Spec strings to topology graphs, Mininet-style: ``fat_tree,k=4``.

A spec is a builder name followed by ``key=value`` parameters. Each builder's
parameters are declared below with their type and default; profile parameters
name entries of the hardware catalogue (or YAML paths). ``fabrictwin topo list``
prints this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.hardware.profiles import ProfileLibrary
from fabrictwin.topologies.clos import fat_tree, leaf_spine
from fabrictwin.topologies.factory import ai_factory
from fabrictwin.topologies.hypernode import hypernode
from fabrictwin.topologies.multidc import multi_dc
from fabrictwin.topologies.rail import rail_optimized
from fabrictwin.units import parse_latency_ns, parse_rate_bps

#: Largest count a spec parameter takes, checked before any graph is built (the builders'
#: own radix and size checks come after): larger fabrics exhaust memory first.
MAX_COUNT = 4096
#: Largest length (cable metres, fibre kilometres) a spec parameter takes.
MAX_LENGTH = 1e6


def _int(value: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FabricTwinError(f"{what}: expected an integer, got {value!r}") from None
    if not 0 <= number <= MAX_COUNT:
        raise FabricTwinError(f"{what}: expected 0 to {MAX_COUNT}, got {number}")
    return number


def _float(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise FabricTwinError(f"{what}: expected a number, got {value!r}") from None
    if not 0 <= number <= MAX_LENGTH:  # NaN and infinities fail here too
        raise FabricTwinError(f"{what}: expected a length from 0 to {MAX_LENGTH:g}, got {value}")
    return number


def _bool(value: str, what: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise FabricTwinError(f"{what}: expected true or false, got {value!r}")


def _int_list(value: str, what: str) -> tuple[int, ...]:
    return tuple(_int(v, what) for v in value.split("/"))


READERS: dict[str, Callable[[str, str], Any]] = {
    "int": _int, "float": _float, "bool": _bool, "rate": parse_rate_bps,
    "latency": parse_latency_ns, "ints": _int_list, "str": lambda v, _w: v,
    "hypernode": lambda v, _w: v, "nic": lambda v, _w: v, "switch": lambda v, _w: v,
    "dci": lambda v, _w: v,
}


@dataclass(frozen=True)
class Param:
    kind: str  # a key of READERS; hypernode/nic/switch/dci name a profile of that kind
    default: Any
    doc: str


@dataclass(frozen=True)
class TopologyBuilder:
    name: str
    doc: str
    params: dict[str, Param]
    build: Callable[[dict[str, Any]], nx.Graph]


def _sliced(p: dict[str, Any]) -> Any:
    """The hyper-node profile with its tray counts overridden (a slice of it)."""
    overrides = {k: p[k] for k in ("compute_trays", "gpus_per_tray") if p.get(k) is not None}
    return p["profile"].scaled(**overrides) if overrides else p["profile"]


def _hypernode(p: dict[str, Any]) -> nx.Graph:
    knobs = {"compute_trays": "compute_trays", "gpus_per_tray": "gpus_per_tray",
             "switch_trays": "switch_trays", "chips_per_tray": "chips_per_tray",
             "links_per_chip": "links_per_chip", "gpu_rate": "gpu_rate_bps",
             "chip_latency": "chip_latency_ns", "chip_radix": "chip_radix",
             "chip_port_rate": "chip_port_rate_bps"}
    overrides = {knobs[k]: v for k, v in p.items() if k in knobs and v is not None}
    hn = p["profile"].scaled(**overrides) if overrides else p["profile"]
    return hypernode(hn, collapse=p["collapse"])


_OEX = {
    "compute_trays": Param("int", None, "override: compute trays"),
    "gpus_per_tray": Param("int", None, "override: GPUs per compute tray"),
    "switch_trays": Param("int", None, "override: switch trays"),
    "chips_per_tray": Param("int", None, "override: switch chips per switch tray"),
    "links_per_chip": Param("ints", None, "override: links from each GPU to each chip (a/b/..)"),
    "gpu_rate": Param("rate", None, "override: scale-up bandwidth per GPU, per direction"),
    "chip_latency": Param("latency", None, "override: switch chip latency"),
    "chip_radix": Param("int", None, "override: switch chip ports"),
    "chip_port_rate": Param("rate", None, "override: switch chip port rate"),
}
_CABLE = Param("float", 10.0, "cable length in metres (~4.9 ns/m)")
_SWITCH = Param("switch", "tomahawk5-51t2", "scale-out switch profile")

BUILDERS: dict[str, TopologyBuilder] = {b.name: b for b in [
    TopologyBuilder("hypernode",
                    "one scale-up domain: compute trays x switch trays, full crossbar", {
        "profile": Param("hypernode", "gb200-nvl72", "hyper-node profile"),
        "collapse": Param("bool", False, "collapse the chip planes into one switch"),
        **_OEX,
    }, _hypernode),
    TopologyBuilder("leaf_spine", "two-tier leaf-spine Clos", {
        "leaves": Param("int", 4, "leaf switches"),
        "spines": Param("int", 2, "spine switches"),
        "hosts_per_leaf": Param("int", 8, "hosts on each leaf"),
        "nic": Param("nic", "cx7-400g", "host NIC profile (host link rate)"),
        "switch": _SWITCH,
        "uplink_rate": Param("rate", None, "leaf-spine link rate (default: switch port rate)"),
        "uplinks": Param("int", 1, "parallel links between each leaf and spine"),
        "cable_m": _CABLE,
    }, lambda p: leaf_spine(p["leaves"], p["spines"], p["hosts_per_leaf"], p["nic"].rate_bps,
                            p["switch"], uplink_rate_bps=p["uplink_rate"],
                            uplinks=p["uplinks"], cable_m=p["cable_m"])),
    TopologyBuilder("fat_tree", "k-ary fat-tree (Al-Fares et al., SIGCOMM 2008)", {
        "k": Param("int", 4, "switch ports; even"),
        "switch": _SWITCH,
        "rate": Param("rate", None, "link rate (default: switch port rate)"),
        "cable_m": _CABLE,
    }, lambda p: fat_tree(p["k"], p["switch"], rate_bps=p["rate"], cable_m=p["cable_m"])),
    TopologyBuilder("rail_optimized", "GPU i of every server on rail leaf i, spines across rails", {
        "servers": Param("int", 4, "servers"),
        "gpus_per_server": Param("int", 8, "GPUs (rails) per server"),
        "nic": Param("nic", "cx7-400g", "NIC profile, one per GPU"),
        "switch": _SWITCH,
        "servers_per_group": Param("int", None, "servers per rail group (default radix/2)"),
        "spines": Param("int", None, "spine switches (default: 1:1 at the leaf)"),
        "cable_m": _CABLE,
    }, lambda p: rail_optimized(p["servers"], p["gpus_per_server"], p["nic"], p["switch"],
                                servers_per_group=p["servers_per_group"], spines=p["spines"],
                                cable_m=p["cable_m"])),
    TopologyBuilder("multi_dc", "leaf-spine data centres joined by a full mesh of DCI links", {
        "dcs": Param("int", 2, "data centres (at least 2)"),
        "leaves": Param("int", 2, "leaves per DC"),
        "spines": Param("int", 2, "spines per DC"),
        "hosts_per_leaf": Param("int", 4, "hosts per leaf"),
        "nic": Param("nic", "cx7-400g", "host NIC profile"),
        "switch": _SWITCH,
        "dci": Param("dci", "zr400", "DCI link profile"),
        "distance_km": Param("float", 50.0, "fibre distance between every pair of DCs"),
        "dci_links": Param("int", 1, "parallel DCI links between each pair of DCs"),
        "dci_routers": Param("int", 1, "DCI routers per DC, each with its own DCI links (ECMP)"),
        "cable_m": _CABLE,
    }, lambda p: multi_dc(p["dcs"], p["leaves"], p["spines"], p["hosts_per_leaf"], p["nic"],
                          p["switch"], p["dci"], distance_m=p["distance_km"] * 1000,
                          dci_links=p["dci_links"], dci_routers=p["dci_routers"],
                          cable_m=p["cable_m"])),
    TopologyBuilder("ai_factory", "hyper-nodes + rail-optimized scale-out + scale-across DCI", {
        "hypernodes": Param("int", 2, "hyper-nodes per DC"),
        "dcs": Param("int", 1, "data centres"),
        "profile": Param("hypernode", "dgx-h100", "hyper-node profile"),
        "collapse": Param("bool", True, "collapse each hyper-node's chip planes"),
        "switch": _SWITCH,
        "dci": Param("dci", "zr400", "DCI link profile"),
        "distance_km": Param("float", 50.0, "fibre distance between every pair of DCs"),
        "dci_links": Param("int", 1, "parallel DCI links between each pair of DCs"),
        "dci_routers": Param("int", 1, "DCI routers per DC, each with its own DCI links (ECMP)"),
        **{k: _OEX[k] for k in ("compute_trays", "gpus_per_tray")},
        "servers_per_group": Param("int", None, "compute trays per rail group"),
        "spines": Param("int", None, "spines per DC (default: 1:1 at the leaf)"),
        "cable_m": _CABLE,
    }, lambda p: ai_factory(p["hypernodes"], _sliced(p), p["switch"], p["dci"], dcs=p["dcs"],
                            collapse=p["collapse"], distance_m=p["distance_km"] * 1000,
                            dci_links=p["dci_links"], dci_routers=p["dci_routers"],
                            servers_per_group=p["servers_per_group"], spines=p["spines"],
                            cable_m=p["cable_m"])),
]}


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``name,key=value,...`` into the builder name and raw parameters."""
    parts = [p.strip() for p in spec.split(",")]
    name, raw = parts[0], {}
    if name not in BUILDERS:
        raise FabricTwinError(f"unknown topology {name!r} (known: {', '.join(BUILDERS)})")
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise FabricTwinError(f"{name}: parameter {part!r} is not key=value")
        if key in raw:
            raise FabricTwinError(f"{name}: parameter {key!r} given twice")
        raw[key] = value
    return name, raw


def build_topology(spec: str, library: ProfileLibrary | None = None) -> nx.Graph:
    """Build the graph a spec string describes; one-line FabricTwinError on bad input."""
    library = library or ProfileLibrary()
    name, raw = parse_spec(spec)
    builder = BUILDERS[name]
    unknown = sorted(set(raw) - set(builder.params))
    if unknown:
        raise FabricTwinError(f"{name}: unknown parameter {unknown[0]!r} "
                              f"(expected: {', '.join(builder.params)})")
    values: dict[str, Any] = {}
    for key, param in builder.params.items():
        text = raw.get(key)
        value = param.default if text is None else READERS[param.kind](text, f"{name}: {key}")
        if param.kind in ("hypernode", "nic", "switch", "dci") and value is not None:
            try:
                value = library.load(value, param.kind)
            except FabricTwinError as exc:
                raise FabricTwinError(f"{name}: {key}: {exc}") from None
        values[key] = value
    try:
        g = builder.build(values)
    except FabricTwinError as exc:
        raise FabricTwinError(f"{name}: {exc}") from None
    g.graph["spec"] = spec
    return g
