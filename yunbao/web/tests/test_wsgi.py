"""The WSGI entry point loads every view and the heavy libraries before the first request."""

from __future__ import annotations

import sys


def test_it_warms_up_the_worker_at_start() -> None:
    from yunbao import wsgi

    assert callable(wsgi.application)
    assert "yunbao.intake.api" in sys.modules
    assert "sklearn.feature_extraction.text" in sys.modules
