"""The projection model: analytical collectives, flow-level congestion, emulated-run mapping.

Pure functions of plain data (hardware profiles, graphs, numbers): no I/O, no state.

- :mod:`.system`: a system's tiers (scale-up, scale-out, scale-across) and the rates and
  latencies derived from its hardware profile;
- :mod:`.collectives`: alpha-beta cost of every algorithm and protocol on those tiers;
- :mod:`.ceilings`: NCCL's per-channel bandwidth caps across nodes (trees, LL128 rings,
  NVLSTree);
- :mod:`.algorithm`: the algorithm and protocol NCCL would pick;
- :mod:`.predict`: time, algbw and busbw over sizes;
- :mod:`.flows`: max-min fair rates of flows over a topology graph with ECMP;
- :mod:`.projection`: an emulated (time-dilated) run mapped back to hardware time.
"""

from fabrictwin.model.collectives import (
    ALGORITHMS,
    COLLECTIVES,
    PROTOCOLS,
    Cost,
    busbw_factor,
    cost,
)
from fabrictwin.model.predict import Prediction, predict, size_sweep
from fabrictwin.model.system import System, Tier, build_system

__all__ = ["ALGORITHMS", "COLLECTIVES", "PROTOCOLS", "Cost", "Prediction", "System", "Tier",
           "build_system", "busbw_factor", "cost", "predict", "size_sweep"]
