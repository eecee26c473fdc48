"""The periodic schedule: recurring tasks registered by each app in its `ready()`.

    from yunbao.jobs.schedule import register
    register("sla-sweep", "yunbao.sla.tasks.sweep_task", every=timedelta(minutes=1))
    register("retrain", "yunbao.dispatch.tasks.retrain_task", daily_at=time(3, 0))

The scheduler (run by `yunbao worker`) enqueues each registered task once per slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta


@dataclass(frozen=True)
class Periodic:
    name: str
    task_path: str  # dotted path of a django-tasks Task taking no arguments
    every: timedelta | None = None
    daily_at: time | None = None  # local time (Asia/Shanghai)


SCHEDULE: dict[str, Periodic] = {}


def register(
    name: str, task_path: str, *, every: timedelta | None = None, daily_at: time | None = None
) -> Periodic:
    """Add (or replace) the recurring task `name`; exactly one of `every`/`daily_at`."""
    if (every is None) == (daily_at is None):
        raise ValueError("give exactly one of every= or daily_at=")
    periodic = Periodic(name, task_path, every, daily_at)
    SCHEDULE[name] = periodic
    return periodic
