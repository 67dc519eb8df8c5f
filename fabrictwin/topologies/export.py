"""Write a topology out: GraphML (for Gephi, yEd, networkx) and a PNG laid out by tier."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import networkx as nx

log = logging.getLogger(__name__)

#: Drawing rows, bottom to top. GPUs sit between their scale-up chips and the scale-out.
LAYER = {"chip": 0, "gpu": 1, "host": 1, "edge": 2, "leaf": 2, "agg": 3, "spine": 3,
         "core": 4, "dci": 5}
COLOUR = {"scale-up": "#2ca02c", "scale-out": "#1f77b4", "scale-across": "#d62728"}
MAX_DRAW_NODES = 4000


def to_graphml(g: nx.Graph, path: Path) -> None:
    """GraphML with every attribute as a scalar: ``ports`` becomes ``"u:1 v:3"``."""
    out = nx.Graph(builder=g.graph.get("builder", ""), spec=g.graph.get("spec", ""),
                   design=json.dumps(g.graph.get("design", {})))
    for n, d in g.nodes(data=True):
        out.add_node(n, **{k: v for k, v in d.items() if v is not None})
    for u, v, d in g.edges(data=True):
        attrs = {k: val for k, val in d.items() if k != "ports"}
        attrs["ports"] = " ".join(f"{n}:{p}" for n, p in d["ports"].items())
        out.add_edge(u, v, **attrs)
    nx.write_graphml(out, path)


def draw_png(g: nx.Graph, path: Path, title: str = "") -> bool:
    """Draw ``g`` in rows by role, links coloured by tier; False when too large to draw."""
    if g.number_of_nodes() > MAX_DRAW_NODES:
        log.warning("%d nodes: too many to draw legibly, PNG skipped", g.number_of_nodes())
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: dict[int, list[str]] = {}
    for n, role in g.nodes(data="role"):
        rows.setdefault(LAYER.get(role, 1), []).append(n)
    pos = {}
    for y, nodes in rows.items():
        for i, n in enumerate(nodes):
            pos[n] = ((i + 0.5) / len(nodes), float(y))
    width = min(40.0, 6 + 0.25 * max(len(r) for r in rows.values()))
    fig, ax = plt.subplots(figsize=(width, 1.6 * len(rows) + 1.5))
    small = g.number_of_nodes() > 200
    for tier, colour in COLOUR.items():
        edges = [(u, v) for u, v, t in g.edges(data="tier") if t == tier]
        nx.draw_networkx_edges(g, pos, edgelist=edges, edge_color=colour, ax=ax,
                               width=0.3 if small else 0.8, alpha=0.6, label=tier)
    host_nodes = [n for n, k in g.nodes(data="kind") if k == "host"]
    switch_nodes = [n for n, k in g.nodes(data="kind") if k == "switch"]
    size = 8 if small else 120
    nx.draw_networkx_nodes(g, pos, nodelist=host_nodes, node_shape="o", node_size=size,
                           node_color="#ffbb78", ax=ax)
    nx.draw_networkx_nodes(g, pos, nodelist=switch_nodes, node_shape="s", node_size=size * 1.5,
                           node_color="#9edae5", ax=ax)
    if not small:
        nx.draw_networkx_labels(g, pos, font_size=6, ax=ax)
    ax.set_yticks(sorted(rows))
    ax.set_yticklabels([", ".join(sorted({r for _, r in g.nodes(data="role")
                                          if LAYER.get(r, 1) == y})) for y in sorted(rows)])
    ax.tick_params(left=True, labelleft=True)  # networkx's drawing hides them
    ax.set_xticks([])
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or g.graph.get("spec", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
