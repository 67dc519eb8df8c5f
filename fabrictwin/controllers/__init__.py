"""SDN controller: a pure routing/congestion policy core and a thin os-ken (Ryu API) shim.

Not built yet; see the controller issue.
"""
