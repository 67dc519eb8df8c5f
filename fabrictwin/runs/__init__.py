"""Runs over the emulated fabric: what ties the controller, the fabric and the agents.

- ``session``: bring-up (calibration, plan, controller, emulation, PFC) and teardown;
- ``scenario`` (+ ``scenarios/*.yaml``): scenario files, strictly checked;
- ``agents``: the agents' commands and results; ``collective``: collectives timed like
  nccl-tests; ``outputs``: their tables, JSON, CSV and plots;
- ``lossless`` (shared), ``incast``, ``pfc_storm``, ``hol_victim``, ``incast_plots``:
  the lossless-fabric experiments; ``controlled_fabric``, ``ecn_thresholds``,
  ``ecmp_vs_adaptive``: the controller experiments.
"""
