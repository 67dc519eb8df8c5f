"""Shared fixtures: the shipped profile library. Helpers live in ``tests/helpers``."""

from __future__ import annotations

import pytest

from fabrictwin.hardware.profiles import ProfileLibrary


@pytest.fixture(scope="session")
def lib() -> ProfileLibrary:
    return ProfileLibrary()
