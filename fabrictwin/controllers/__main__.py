"""``python -m fabrictwin.controllers``: run the controller (see ``process``)."""

import sys

from fabrictwin.controllers.process import main

sys.exit(main())
