"""Collective-communication traffic: RoCEv2 frames, schedules, endpoint agents.

Not built yet; see the traffic issue.
"""
