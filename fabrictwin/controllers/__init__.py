"""SDN controller: a pure routing/congestion policy core and a thin os-ken (Ryu API) shim.

- ``core``: :class:`~fabrictwin.controllers.core.PolicyCore`, the pure core (with
  ``routing``, ``tables``, ``ecn``, ``adaptive``, ``classes``, ``arp``, ``messages``,
  ``telemetry``); it never imports os_ken. ``policy``: the policy YAML it runs.
- ``app``: the os-ken app shim, the only module importing os_ken (or Ryu); ``ofp``
  encodes the core's messages for it.
- ``process``: the controller process (``python -m fabrictwin.controllers``,
  ``fabrictwin controller``) and :func:`~fabrictwin.controllers.process.start_controller`.
- ``kernel_queues``: queue telemetry from the switch ports' qdiscs (rtnetlink).
- ``decisions``: the decision log (JSON lines).
"""
