"""The ``fabrictwin`` command: :mod:`~fabrictwin.cli.main` and one module per subcommand.

The top layer: it imports every package below it and nothing imports it.
"""
