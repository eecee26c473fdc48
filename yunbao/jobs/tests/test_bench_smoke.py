"""Smoke test of the task benchmark: a few tasks through both workers, every one run."""

from __future__ import annotations

from typing import Any

import pytest

from bench.tasks import run
from yunbao.jobs.tests.test_redis import REDIS_URL, _redis


@pytest.mark.django_db(transaction=True)  # the Redis push happens outside any transaction
def test_it_runs_the_task_benchmark_on_both_backends() -> None:
    _redis().close()  # skips (outside CI) when no Redis answers
    figures: dict[str, Any] = run(tasks=5, redis_url=REDIS_URL)

    for backend in ("database", "redis"):
        assert figures[backend]["ran"] == 5, figures
        assert figures[backend]["left"] == 0
        assert figures[backend]["tasks_per_s"] > 0
    assert figures["ratio_redis_database"] > 0
