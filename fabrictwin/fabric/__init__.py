"""The emulated fabric: a topology graph brought up on this machine, time-dilated.

- ``plan`` (pure): addresses, dilated link parameters and forwarding state of a graph;
- ``network``: Mininet + Open vSwitch bring-up, the one module importing mininet;
  ``ovs``, ``ovs_txbuf``: Open vSwitch flows and socket buffers;
- ``queues``: the per-class HTB queues of every port; ``delayline``: frames delayed in
  userspace where the kernel has no netem;
- ``probe``, ``calibrate``: what the machine offers, and the emulator's own overheads;
- ``state``: what a run created, and ``fabrictwin clean`` of a killed run's leftovers;
- ``pfc/``: PFC beside the switches (pure core, TBF-gated queues, the daemon).
"""
