"""Benchmark: background tasks per second through the worker, database backend and Redis.

N no-op tasks (`yunbao.jobs.tasks.echo_task`) are enqueued one by one, as requests enqueue
them (one transaction each on the database backend, one push each to Redis), then the
backend's worker (the loop `yunbao worker` runs, in burst mode, one process) drains them.
Both are timed: enqueues per second and tasks per second through the worker. A no-op task
measures what the queue itself costs per task; real tasks add their own work on top.

The database backend runs on a throwaway migrated database (SQLite under var/ by default,
or `--database-url`); the Redis backend on `--redis-url` (default db 14 of the local
server) with a queue of its own, whose keys are deleted afterwards.

    .venv/bin/python -m bench.tasks                 # 2,000 tasks each
    .venv/bin/python -m bench.tasks --tasks 200     # quicker
    .venv/bin/python -m bench.tasks --database-url postgres://postgres@127.0.0.1:5432/yunbao_bench

The last line is JSON for `bench/__main__.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

DEFAULT_TASKS = 2_000
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def measure_database(tasks: int) -> dict[str, Any]:
    """Enqueue and drain `tasks` no-op tasks on the database backend of the configured
    database."""
    from django.test import override_settings
    from django_tasks_db.models import DBTaskResult

    from yunbao.jobs.tasks import echo_task
    from yunbao.jobs.workers import run_database_worker

    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        started = time.perf_counter()
        for n in range(tasks):
            echo_task.enqueue(n)
        enqueued = time.perf_counter() - started
        started = time.perf_counter()
        ran = run_database_worker(burst=True, interval=0.01)
        drained = time.perf_counter() - started
        left = DBTaskResult.objects.ready().count()
    return {
        "tasks": tasks,
        "ran": ran,
        "left": left,
        "enqueue_per_s": _rate(tasks, enqueued),
        "tasks_per_s": _rate(ran, drained),
    }


def _redis_client(url: str) -> Any:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    client.ping()
    return client


def measure_redis(tasks: int, url: str = REDIS_URL) -> dict[str, Any]:
    """Enqueue and drain `tasks` no-op tasks through Redis and the RQ worker."""
    import django_rq
    from django.test import override_settings

    from yunbao.jobs.tasks import echo_task
    from yunbao.jobs.workers import run_redis_worker

    client = _redis_client(url)
    queue = f"bench-{os.getpid()}"
    settings: dict[str, Any] = {
        "TASKS": {"default": {"BACKEND": "yunbao.jobs.backends.RQBackend", "QUEUES": [queue]}},
        # "default" too: django-tasks-rq reads results through the default queue's connection.
        "RQ_QUEUES": {queue: {"URL": url}, "default": {"URL": url}},
    }
    ids: list[str] = []
    try:
        with override_settings(**settings):
            task = echo_task.using(queue_name=queue)
            started = time.perf_counter()
            for n in range(tasks):
                ids.append(task.enqueue(n).id)
            enqueued = time.perf_counter() - started
            started = time.perf_counter()
            ran = run_redis_worker(burst=True, logging_level="WARNING")
            drained = time.perf_counter() - started
            left = django_rq.get_queue(queue).count
    finally:
        _clean_redis(client, queue, ids)
    return {
        "tasks": tasks,
        "ran": ran,
        "left": left,
        "enqueue_per_s": _rate(tasks, enqueued),
        "tasks_per_s": _rate(ran, drained),
    }


def _clean_redis(client: Any, queue: str, ids: list[str]) -> None:
    """Delete the bench's queue, registries, jobs and results."""
    pipe = client.pipeline(transaction=False)
    for key in client.scan_iter(f"*{queue}*"):
        pipe.delete(key)
    for job_id in ids:
        pipe.delete(f"rq:job:{job_id}", f"rq:results:{job_id}")
    pipe.srem("rq:queues", f"rq:queue:{queue}")
    pipe.execute()
    for job_id in ids[:1] + ids[-1:]:
        # Anything else RQ keeps per job (executions …), found by its id.
        for key in client.scan_iter(f"rq:*{job_id}*"):
            client.delete(key)
    client.close()


def run(tasks: int, redis_url: str | None = REDIS_URL) -> dict[str, Any]:
    """Both backends in the configured database; Redis skipped (noted) when unreachable."""
    from yunbao.jobs.workers import quiet_rq_logging

    quiet_rq_logging()
    result: dict[str, Any] = {"database": measure_database(tasks)}
    if redis_url:
        try:
            result["redis"] = measure_redis(tasks, redis_url)
        except OSError as exc:  # redis' ConnectionError is an OSError
            result["redis"] = {"error": f"not measured: {exc}"}
    redis_rate = result.get("redis", {}).get("tasks_per_s")
    if redis_rate:
        result["ratio_redis_database"] = round(redis_rate / result["database"]["tasks_per_s"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS)
    parser.add_argument("--database-url", help="a server database (recreated empty)")
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()

    os.environ["TASK_BACKEND"] = "database"
    from bench.common import throwaway_database

    with throwaway_database("tasks", args.database_url):
        from django.db import connection

        result = run(args.tasks, None if args.no_redis else args.redis_url)
        result["database"]["engine"] = connection.vendor
    database, redis = result["database"], result.get("redis", {})
    print(
        f"database backend ({database['engine']}): {database['enqueue_per_s']:>8} enqueues/s, "
        f"{database['tasks_per_s']:>8} tasks/s through the worker ({database['ran']} run)"
    )
    if "tasks_per_s" in redis:
        print(
            f"Redis backend (RQ):        {redis['enqueue_per_s']:>8} enqueues/s, "
            f"{redis['tasks_per_s']:>8} tasks/s through the worker ({redis['ran']} run)"
        )
        print(f"ratio Redis / database (tasks/s): {result['ratio_redis_database']}")
    elif redis:
        print(f"Redis backend: {redis['error']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
