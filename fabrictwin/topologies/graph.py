"""The topology graph: the one place its node, edge and graph attributes are documented.

Every builder returns an undirected :class:`networkx.Graph` with these attributes.

Node attributes
    ``kind``          ``"host"`` (GPU or endpoint) or ``"switch"`` (switch chip, leaf, spine, ...)
    ``role``          ``gpu`` | ``host`` | ``chip`` | ``edge`` | ``agg`` | ``core`` | ``leaf`` |
                      ``spine`` | ``dci``
    ``tier``          ``scale-up`` | ``scale-out`` | ``scale-across`` (hosts: their home tier)
    ``latency_ns``    switch forwarding latency (0 for hosts)
    ``radix``         ports the switch has (switches only)
    ``buffer_bytes``  packet buffer (switches only)
    ``ports``         ports in use; port numbers run 1..ports as OpenFlow numbers them
    ids, where they apply: ``dc``, ``hypernode``, ``tray``, ``slot`` (GPU index in its
    tray), ``gpu`` (GPU index in its hyper-node or server), ``chip``, ``pod``, ``rail``,
    ``server``, ``group`` (rail group / scalable unit), ``index``

Edge attributes
    ``tier``          as for nodes
    ``rate_bps``      capacity per direction (sum over the bundled physical links)
    ``links``         physical links bundled into this edge (planes of a collapsed hyper-node,
                      parallel NVLinks between a GPU and a chip)
    ``latency_ns``    propagation latency of the link
    ``ports``         ``{node: port_number}`` for both ends
    ``distance_m``    fibre length (scale-across links only)

Graph attributes (``g.graph``)
    ``spec``          the spec string it was built from (set by the registry)
    ``builder``       builder name
    ``design``        closed-form figures of the design: ``bisection_bps``, ``oversubscription``
    ``bisection_a``   the hosts of side A of the design's bisection (side B: the other hosts)
    ``representatives``  hosts covering every symmetry class of the design, from which
                      diameter and worst-case latency are computed (see ``analysis``)
    ``hardware``      the profiles used, by role (for reports)
    ``distance_m``    fibre between DCs (ai_factory), for the model's scale-across tier

Interface names: the emulator names port ``p`` of node ``n`` ``f"{n}-eth{p}"``
(:func:`intf_name`); Linux allows 15 characters, so builders reject node names
that cannot take their highest port number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import networkx as nx

from fabrictwin.errors import FabricTwinError
from fabrictwin.linux.names import IFNAMSIZ

NODE_NAME_RE = re.compile(r"^[a-z][a-z0-9]*$")
HOST_ROLES = frozenset({"gpu", "host"})
SWITCH_ROLES = frozenset({"chip", "edge", "agg", "core", "leaf", "spine", "dci"})
TIERS = ("scale-up", "scale-out", "scale-across")


def intf_name(node: str, port: int) -> str:
    """The Linux interface name of ``port`` on ``node``, as the emulator creates it."""
    return f"{node}-eth{port}"


def new_graph(builder: str) -> nx.Graph:
    return nx.Graph(builder=builder, design={}, bisection_a=[], hardware={})


def add_host(g: nx.Graph, name: str, role: str = "gpu", tier: str = "scale-out",
             **ids: Any) -> str:
    assert role in HOST_ROLES and tier in TIERS
    g.add_node(name, kind="host", role=role, tier=tier, latency_ns=0.0, ports=0, **ids)
    return name


def add_switch(g: nx.Graph, name: str, role: str, tier: str, *, radix: int, latency_ns: float,
               buffer_bytes: int = 0, **ids: Any) -> str:
    assert role in SWITCH_ROLES and tier in TIERS
    g.add_node(name, kind="switch", role=role, tier=tier, radix=radix, latency_ns=latency_ns,
               buffer_bytes=buffer_bytes, ports=0, **ids)
    return name


def add_link(g: nx.Graph, u: str, v: str, *, tier: str, rate_bps: float, latency_ns: float,
             links: int = 1, **extra: Any) -> None:
    """Join ``u`` and ``v`` with the next free port on each; ``links`` physical links bundled.

    A bundle uses ``links`` ports on a switch (radix counts physical ports) but one
    emulated interface, numbered by the bundle's first port.
    """
    if g.has_edge(u, v):  # a second bundle between the same pair is a builder bug
        raise AssertionError(f"duplicate link {u} - {v}")
    nu, nv = g.nodes[u], g.nodes[v]
    ports = {u: nu["ports"] + 1, v: nv["ports"] + 1}
    nu["ports"] += links if nu["kind"] == "switch" else 1
    nv["ports"] += links if nv["kind"] == "switch" else 1
    g.add_edge(u, v, tier=tier, rate_bps=float(rate_bps), latency_ns=float(latency_ns),
               links=links, ports=ports, **extra)


def check_names(g: nx.Graph) -> None:
    """Reject node names the emulator could not turn into interface names."""
    for node, ports in g.nodes(data="ports"):
        if not NODE_NAME_RE.match(node):
            raise FabricTwinError(f"node name {node!r}: use lower-case letters and digits, "
                                  "starting with a letter")
        longest = intf_name(node, max(ports, 1))
        if len(longest) > IFNAMSIZ:
            raise FabricTwinError(
                f"node name {node!r}: interface {longest!r} would exceed Linux's "
                f"{IFNAMSIZ}-character limit; build a smaller topology or shorter prefix")


def hosts(g: nx.Graph) -> list[str]:
    return [n for n, k in g.nodes(data="kind") if k == "host"]


def node_keys(g: nx.Graph, names: Sequence[str]) -> list[tuple[int, Any]]:
    """(dc, hyper-node or server) of each host: hosts sharing a key share a node.

    >>> g = new_graph("t")
    >>> _ = add_host(g, "a", dc=1, hypernode=2), add_host(g, "b", server=3), add_host(g, "c")
    >>> node_keys(g, ["a", "b", "c"])
    [(1, 2), (0, 3), (0, 2)]
    """
    return [(g.nodes[h].get("dc", 0), g.nodes[h].get("hypernode", g.nodes[h].get("server", i)))
            for i, h in enumerate(names)]


def switches(g: nx.Graph) -> list[str]:
    return [n for n, k in g.nodes(data="kind") if k == "switch"]


def dci_routers(g: nx.Graph) -> set[str]:
    """The switches that join a DC to the others (scale-across)."""
    return {n for n, role in g.nodes(data="role") if role == "dci"}


def require(condition: bool, message: str) -> None:
    """Fail a builder's argument check with one line."""
    if not condition:
        raise FabricTwinError(message)


def require_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FabricTwinError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise FabricTwinError(f"{name}: must be at least {minimum}, got {value}")
    return value
