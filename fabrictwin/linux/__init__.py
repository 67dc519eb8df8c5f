"""Linux plumbing shared by every layer above: the bottom layer (imports nothing of ours
but ``errors``).

- ``names``: interface and bridge names checked before they reach ``ip``, ``tc`` or OVS;
- ``commands``: running ``ip``/``tc``/``ovs-vsctl`` without a shell, one-line errors;
- ``rawsock``: AF_PACKET sockets and classic BPF filters;
- ``procs``: child processes that die with their parent, stopping them, free ports;
- ``rtnetlink``: qdisc statistics by one rtnetlink dump (what ``tc -s qdisc`` prints);
- ``cpu``: CPU load while a run goes on (``/proc/stat``).
"""
