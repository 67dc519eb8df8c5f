"""Collective-communication traffic: RoCEv2 frames, schedules, endpoint agents.

- ``roce``: RoCEv2 frames built with scapy (BTH, RETH, AETH, CNP), templates, the ICRC;
- ``schedule`` / ``schedules`` / ``inference``: collectives as pure data, and a simulator
  that proves each schedule delivers its result under any order its dependencies allow;
- ``dcqcn``, ``reliability``: pure DCQCN, go-back-N and token bucket (time passed in);
- ``fastpath``, ``qp``, ``agent``, ``config``: the agent each emulated host runs
  (``python -m fabrictwin.traffic.agent --config FILE.json``) and its configuration.
"""
