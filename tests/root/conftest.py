"""Root tests: real namespaces, Open vSwitch and packets. Every test here carries the
``root`` marker and skips unless run as root (CI runs as root)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="needs root (namespaces, Open vSwitch)")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.root)
            if os.geteuid() != 0:
                item.add_marker(skip)
