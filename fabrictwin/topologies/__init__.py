"""Pure topology builders returning networkx graphs, their checks and exports.

Attributes are documented in :mod:`fabrictwin.topologies.graph`; spec strings
(``fat_tree,k=4``) are parsed by :mod:`fabrictwin.topologies.registry`.
"""

from fabrictwin.topologies.registry import BUILDERS, build_topology

__all__ = ["BUILDERS", "build_topology"]
