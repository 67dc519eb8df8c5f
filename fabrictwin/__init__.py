"""fabrictwin: a network fabric emulator and protocol testbed for AI-factory networks.

Subpackages: ``fabric`` (hardware catalogue, emulation, projection model),
``topologies`` (pure graph builders), ``controllers`` (SDN policy and app shim),
``traffic`` (RoCEv2 frames, collective schedules, endpoint agents).
"""

from fabrictwin.errors import FabricTwinError

__version__ = "0.1.0"
__all__ = ["FabricTwinError", "__version__"]
