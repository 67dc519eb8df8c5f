"""The package's layers, checked from the code's own imports (``make lint`` runs this).

Every import of ``fabrictwin`` code must point down :data:`LAYERS` (or stay inside its
own package); packages on one layer are independent of each other. Imports inside
functions count too: a lazy import is still a dependency. Also refused: a cycle among
modules, however long.

    python -m tests.layers [PACKAGE_DIR]      # exit 1 and one line per violation
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

#: Top to bottom. A package may import those on lower layers, never higher or beside.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("runs",),
    ("workload",),  # the twin: training and serving on the model, above it
    ("fabric", "traffic", "controllers"),
    ("model",),
    ("topologies",),
    ("protocols",),
    ("hardware",),
    ("linux",),
    ("units",),
    ("errors",),
)
ROOT_MODULES = ("__init__", "__main__")  # the package's own: may import what they run


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of the package in ``path``."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import mod` imports the module pkg.mod when there is one
            names = [f"{mod}.{a.name}" if (root.parent / f"{mod}.{a.name}".replace(".", "/")
                                           ).with_suffix(".py").exists()
                     or (root.parent / f"{mod}.{a.name}".replace(".", "/")).is_dir()
                     else mod for a in node.names]
        else:
            continue
        for name in names:
            if name == root.name or name.startswith(root.name + "."):
                yield name, node.lineno


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else None
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    return None


def check(root: Path) -> list[str]:
    """Every violation under the package directory ``root``, one line each."""
    problems = []
    graph = nx.DiGraph()
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        graph.add_node(me)
        mine = layer_of(me)
        for target, line in imports(path, root):
            if target != me:
                graph.add_edge(me, target)
            theirs = layer_of(target)
            if mine is None or theirs is None:
                if mine is None and me != root.name and me.split(".")[-1] not in ROOT_MODULES:
                    problems.append(f"{path}:{line}: {me} is on no layer (add it to LAYERS)")
                continue
            same_package = me.split(".")[1] == target.split(".")[1]
            if theirs < mine or (theirs == mine and not same_package):
                where = "above" if theirs < mine else "beside"
                problems.append(f"{path}:{line}: {me} imports {target}, which is {where} it")
    for cycle in nx.simple_cycles(graph):
        problems.append(f"{root}: import cycle: {' -> '.join([*cycle, cycle[0]])}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "fabrictwin"
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} problem(s) in {root}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
