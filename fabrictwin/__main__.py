"""``python -m fabrictwin``: the same as the ``fabrictwin`` command."""

from fabrictwin.cli.main import main

raise SystemExit(main())
