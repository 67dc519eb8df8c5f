"""Emulating a topology graph on this machine: Mininet + Open vSwitch, time-dilated.

``plan`` (pure) turns a graph into addresses, dilated link parameters and
forwarding state; ``network`` is the one module that imports mininet;
``delayline`` delays frames in userspace where the kernel has no netem.
"""
