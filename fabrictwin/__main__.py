"""``python -m fabrictwin``: the same as the ``fabrictwin`` command."""

from fabrictwin.cli import main

raise SystemExit(main())
