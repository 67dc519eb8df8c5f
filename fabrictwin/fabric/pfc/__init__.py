"""PFC (IEEE 802.1Qbb) for the emulated switches: pure core, tc queues, the daemon."""
