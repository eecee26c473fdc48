"""The periodic scheduler: enqueue each registered task once per slot of its schedule.

Slots. A task registered with `every=` has slots aligned on the Unix epoch: slot n covers
[n·every, (n+1)·every), so every worker computes the same slot whatever its start time.
A task registered with `daily_at=` has one slot per local day (`TIME_ZONE`, Asia/Shanghai),
beginning at that local time: before 03:00 the current slot is yesterday's 03:00, after it
today's. Only the current slot is ever enqueued: a scheduler that was down for a while runs
a missed task once when it comes back (a nightly job at start-up, if tonight's is still
missing), never once for every slot it missed.

Once per slot, across processes. Every `yunbao worker` runs a scheduler, so several tick at
once. A `ScheduledRun(name, slot)` row, unique, is inserted before the task is enqueued;
the scheduler whose insert fails (another one's row exists) does nothing.

* Database backend: the insert and the task row are written in one transaction, so the
  slot is enqueued exactly once: both commit or neither does (and a failed enqueue leaves
  the slot free for the next tick).
* Redis (any backend whose queue is outside the database): the row is committed first (the
  claim), then the task is pushed, then the row is marked enqueued. A push that fails
  releases the claim, so the next tick tries again. A scheduler that dies after its claim
  and before marking the row leaves a claim without `enqueued_at`; once older than
  `CLAIM_TIMEOUT`, another scheduler takes it over (a compare-and-set on `claimed_at`, so
  only one does) and pushes the task, which may then be queued twice if the first push had
  in fact happened. Delivery is therefore at least once, never silently skipped, and every
  periodic task is idempotent so that a second run is harmless.

The workers themselves deliver at least once as well (RQ requeues a job whose worker died),
which is the other reason periodic tasks must be idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.base import Task
from django_tasks_db.backend import DatabaseBackend

from yunbao.jobs.models import ScheduledRun
from yunbao.jobs.schedule import SCHEDULE, Periodic

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A claim this old without a push is the trace of a scheduler that died in between.
CLAIM_TIMEOUT = timedelta(minutes=2)

Clock = Callable[[], datetime]


def current_slot(periodic: Periodic, now: datetime, tz: tzinfo | None = None) -> datetime:
    """The start of the slot `now` falls in (an aware datetime, UTC)."""
    if periodic.every is not None:
        # Integer arithmetic on timedeltas (microseconds): no float rounding at slot edges.
        count = (now - EPOCH) // periodic.every
        return EPOCH + count * periodic.every
    assert periodic.daily_at is not None
    zone = tz or timezone.get_default_timezone()
    local = now.astimezone(zone)
    day = local.date()
    if local.time().replace(tzinfo=None) < periodic.daily_at:
        day -= timedelta(days=1)
    return datetime.combine(day, periodic.daily_at, tzinfo=zone).astimezone(UTC)


def next_slot(periodic: Periodic, slot: datetime, tz: tzinfo | None = None) -> datetime:
    """The start of the slot after `slot`."""
    if periodic.every is not None:
        return slot + periodic.every
    assert periodic.daily_at is not None
    zone = tz or timezone.get_default_timezone()
    # By local date, not +24 h: right in a zone with daylight saving time too.
    day = slot.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, periodic.daily_at, tzinfo=zone).astimezone(UTC)


def load_task(periodic: Periodic) -> Task:
    task = import_string(periodic.task_path)
    if not isinstance(task, Task):
        raise TypeError(f"{periodic.task_path} is not a task (decorate it with @task())")
    return task


class _StillClaimed(Exception):
    """A fresh claim by another scheduler, not yet pushed: not an error, try later."""


@dataclass(frozen=True)
class Enqueued:
    name: str
    slot: datetime
    task_id: str


class Scheduler:
    """Ticks over a schedule; `tick()` enqueues what is due and returns it.

    `clock` and `schedule` are parameters so tests can drive time and use their own entries.
    """

    def __init__(
        self,
        schedule: Mapping[str, Periodic] | None = None,
        *,
        clock: Clock = timezone.now,
        tz: tzinfo | None = None,
    ) -> None:
        self.schedule = SCHEDULE if schedule is None else schedule
        self.clock = clock
        self.tz = tz
        # The slot last seen done per task, so a tick costs no query until a slot turns.
        self._done: dict[str, datetime] = {}

    def tick(self) -> list[Enqueued]:
        now = self.clock()
        enqueued: list[Enqueued] = []
        for name in sorted(self.schedule):
            periodic = self.schedule[name]
            slot = current_slot(periodic, now, self.tz)
            if self._done.get(name) == slot:
                continue
            try:
                run = self._enqueue_once(periodic, slot, now)
            except _StillClaimed:
                continue  # another scheduler is pushing it right now
            except Exception:
                # One broken task (a bad path, Redis away) must not stop the others; the
                # slot stays open and the next tick tries again.
                log.exception("periodic task %s: could not enqueue slot %s", name, slot)
                continue
            self._done[name] = slot
            if run is not None:
                enqueued.append(run)
        return enqueued

    def _enqueue_once(self, periodic: Periodic, slot: datetime, now: datetime) -> Enqueued | None:
        task = load_task(periodic)
        transactional = isinstance(task.get_backend(), DatabaseBackend)
        existing = ScheduledRun.objects.filter(name=periodic.name, slot=slot).first()
        if existing is not None:
            if transactional or existing.enqueued_at is not None:
                return None
            return self._take_over(existing, task, now)
        try:
            with transaction.atomic():
                run = ScheduledRun.objects.create(
                    name=periodic.name, slot=slot, task_path=periodic.task_path, claimed_at=now
                )
                if transactional:
                    # The task row joins this transaction: the run and its task commit
                    # together, so the slot is enqueued exactly once.
                    result = task.enqueue()
                    run.task_id, run.enqueued_at = result.id, now
                    run.save(update_fields=["task_id", "enqueued_at"])
        except IntegrityError:
            return None  # another scheduler has this slot
        if not transactional:
            self._push(run, task, now)
        log.info("periodic task %s enqueued for %s (%s)", periodic.name, slot, run.task_id)
        return Enqueued(periodic.name, slot, run.task_id)

    def _take_over(self, run: ScheduledRun, task: Task, now: datetime) -> Enqueued | None:
        """Push the task of a claim its scheduler abandoned (see the module's docstring)."""
        if run.claimed_at > now - CLAIM_TIMEOUT:
            # Probably still being pushed by its scheduler: look again next tick.
            raise _StillClaimed(run.name)
        taken = ScheduledRun.objects.filter(
            pk=run.pk, enqueued_at__isnull=True, claimed_at=run.claimed_at
        ).update(claimed_at=now)
        if not taken:
            return None  # another scheduler took it over first
        run.claimed_at = now
        log.warning("periodic task %s: taking over the abandoned claim of %s", run.name, run.slot)
        self._push(run, task, now)
        return Enqueued(run.name, run.slot, run.task_id)

    def _push(self, run: ScheduledRun, task: Task, now: datetime) -> None:
        try:
            result = task.enqueue()
        except BaseException:
            # Nothing queued (as far as we can tell): free the slot for the next tick.
            ScheduledRun.objects.filter(
                pk=run.pk, enqueued_at__isnull=True, claimed_at=run.claimed_at
            ).delete()
            raise
        run.task_id, run.enqueued_at = result.id, now
        ScheduledRun.objects.filter(pk=run.pk).update(task_id=result.id, enqueued_at=now)

    def run_forever(self, stop: threading.Event, tick_seconds: float | None = None) -> None:
        """Tick until `stop` is set (the worker sets it on SIGTERM/SIGINT)."""
        seconds = settings.YUNBAO_SCHEDULER_TICK_SECONDS if tick_seconds is None else tick_seconds
        log.info("scheduler started: %d periodic tasks, every %g s", len(self.schedule), seconds)
        try:
            while not stop.is_set():
                # Like a request: drop a connection the database closed since the last tick.
                close_old_connections()
                try:
                    self.tick()
                except Exception:
                    # A database hiccup must not end the scheduler of a long-running worker.
                    log.exception("scheduler tick failed")
                stop.wait(seconds)
        finally:
            # This thread's own connection; the worker's is not ours to close.
            connections.close_all()


def start_thread(scheduler: Scheduler, stop: threading.Event) -> threading.Thread:
    """The scheduler in a daemon thread beside the worker (which keeps the main thread for
    its signal handlers)."""
    thread = threading.Thread(
        target=scheduler.run_forever, args=(stop,), name="yunbao-scheduler", daemon=True
    )
    thread.start()
    return thread
