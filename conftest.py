"""Shared pytest fixtures: the named world of `yunbao.testing` (two streets, people per role)."""

from __future__ import annotations

from typing import Any

import pytest

from yunbao.testing import World, build_world


@pytest.fixture
def world(db: Any) -> World:
    return build_world()
