"""The one exception type a user sees: its message is a single line naming the problem."""


class FabricTwinError(ValueError):
    """Bad input or an impossible request; the CLI prints ``error: <message>`` and exits 2."""
