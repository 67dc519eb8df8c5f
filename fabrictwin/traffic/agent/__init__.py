"""The RoCEv2 endpoint agent each emulated host runs.

``core``: :class:`~fabrictwin.traffic.agent.core.Agent`, the send/receive loop;
``__main__``: the process (``python -m fabrictwin.traffic.agent --config FILE.json``).
"""
