"""Names that reach ``ip``, ``tc`` and ``ovs-vsctl``: checked first, never shell-quoted."""

from __future__ import annotations

import re

from fabrictwin.errors import FabricTwinError

#: Linux's limit on interface names (IFNAMSIZ - 1: the kernel keeps a NUL).
IFNAMSIZ = 15
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_name(name: str) -> str:
    """An interface/bridge name safe for ip, tc and ovs-vsctl: <= 15 plain characters.

    >>> check_name("s1-eth2")
    's1-eth2'
    >>> check_name("s1;reboot")
    Traceback (most recent call last):
    ...
    fabrictwin.errors.FabricTwinError: unsafe or too long interface name 's1;reboot'
    """
    if not SAFE_NAME.match(name) or len(name) > IFNAMSIZ:
        raise FabricTwinError(f"unsafe or too long interface name {name!r}")
    return name
