"""SDN controller: a pure routing/congestion policy core and a thin os-ken (Ryu API) shim.

- ``policy``: :class:`~fabrictwin.controllers.policy.PolicyCore`, the pure core (with
  ``routing``, ``tables``, ``ecn``, ``adaptive``, ``classes``, ``arp``, ``config``,
  ``messages``, ``telemetry``); it never imports os_ken.
- ``app``: the os-ken app shim, the only module importing os_ken (or Ryu).
- ``process``: the controller process (``python -m fabrictwin.controllers``,
  ``fabrictwin controller``) and :func:`~fabrictwin.controllers.process.start_controller`.
"""
