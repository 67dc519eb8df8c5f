"""Collective-communication traffic: schedules and the endpoint agents that run them.

- ``schedule``: schedules as data, and a simulator that proves each delivers its result
  under any order its dependencies allow; ``collectives``, ``inference``: their builders
  (ring, tree, halving-doubling, hierarchical, all-to-all, pipeline, KV transfers);
- ``dcqcn``, ``reliability``: pure DCQCN, go-back-N and token bucket (time passed in);
- ``fastpath``, ``qp``, ``pause``, ``agent/``, ``config``, ``done``: the agent each
  emulated host runs (``python -m fabrictwin.traffic.agent --config FILE.json``), its
  configuration and its done marks;
- ``pfcstorm``: a misbehaving receiver that storms PAUSE frames (experiments).
"""
