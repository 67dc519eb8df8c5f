"""Hardware: the catalogue of parts, their YAML profiles, and the fabric's conventions.

- ``catalogue``: NICs, switch chips, hyper-nodes and DCI links as frozen dataclasses;
  ``profiles`` (+ ``profiles/*.yaml``): finding and loading them; ``schema``: strict YAML;
- ``headroom``: PFC headroom (IEEE 802.1Qbb delay model) and per-port thresholds;
- ``classes``: traffic classes (DSCP, PFC priority) and every port's queues;
- ``addressing``: IP, MAC and DPID of every node from its place in the graph.
"""
