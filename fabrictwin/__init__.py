"""fabrictwin: a network fabric emulator and protocol testbed for AI-factory networks.

Layers, top to bottom (imports point down only; ``make lint`` checks it):

- ``cli``: the ``fabrictwin`` command, one module per subcommand;
- ``runs``: sessions (controller + fabric + agents), collective runs, experiments, scenarios;
- ``fabric`` (the emulated fabric: Mininet + Open vSwitch, PFC), ``traffic`` (schedules
  and the RoCEv2 endpoint agent), ``controllers`` (SDN policy core and os-ken shim);
- ``model``: the projection model; ``topologies``: pure graph builders;
- ``protocols``: wire formats; ``hardware``: the catalogue and its conventions;
- ``linux``: shared system plumbing; ``units``, ``errors``: leaf helpers.
"""

from fabrictwin.errors import FabricTwinError

__version__ = "0.1.0"
__all__ = ["FabricTwinError", "__version__"]
