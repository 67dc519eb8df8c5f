"""Runs of traffic over the emulated fabric: orchestration and their outputs."""
