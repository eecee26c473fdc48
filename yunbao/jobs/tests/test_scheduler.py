"""The periodic scheduler under a controlled clock: slots, one enqueue per slot however many
schedulers tick, daily runs in Asia/Shanghai time and across midnight, abandoned claims."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django_tasks_db.models import DBTaskResult

from yunbao.jobs.models import ScheduledRun
from yunbao.jobs.schedule import SCHEDULE, Periodic, register
from yunbao.jobs.scheduler import CLAIM_TIMEOUT, Scheduler, current_slot, next_slot

SHANGHAI = ZoneInfo("Asia/Shanghai")
ECHO = "yunbao.jobs.tasks.echo_task"
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def utc(*args: int) -> datetime:
    year, month, day = args[:3]
    return datetime(year, month, day, tzinfo=UTC) + _clock_time(args[3:])


def shanghai(*args: int) -> datetime:
    year, month, day = args[:3]
    return datetime(year, month, day, tzinfo=SHANGHAI) + _clock_time(args[3:])


def _clock_time(parts: tuple[int, ...]) -> timedelta:
    """Hours, minutes, seconds, microseconds after midnight (Shanghai has no DST jumps)."""
    hours, minutes, seconds, micro = (*parts, 0, 0, 0, 0)[:4]
    return timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=micro)


# --- Slots -----------------------------------------------------------------------------------


def test_an_every_slot_is_aligned_on_the_epoch_and_turns_exactly_on_the_edge() -> None:
    five = Periodic("p", ECHO, every=timedelta(minutes=5))

    assert current_slot(five, utc(2025, 3, 10, 10, 4, 59, 999999)) == utc(2025, 3, 10, 10, 0)
    assert current_slot(five, utc(2025, 3, 10, 10, 5)) == utc(2025, 3, 10, 10, 5)
    assert next_slot(five, utc(2025, 3, 10, 10, 5)) == utc(2025, 3, 10, 10, 10)
    # Whatever time zone `now` is given in, the slot is the same instant.
    assert current_slot(five, shanghai(2025, 3, 10, 18, 7)) == utc(2025, 3, 10, 10, 5)


def test_a_daily_slot_begins_at_the_local_time_in_shanghai() -> None:
    three = Periodic("p", ECHO, daily_at=time(3, 0))

    # 02:59 in Shanghai is 18:59 UTC the day before: still yesterday's slot.
    before = current_slot(three, utc(2025, 3, 10, 18, 59), SHANGHAI)
    at = current_slot(three, utc(2025, 3, 10, 19, 0), SHANGHAI)

    assert before == shanghai(2025, 3, 10, 3, 0) == utc(2025, 3, 9, 19, 0)
    assert at == shanghai(2025, 3, 11, 3, 0) == utc(2025, 3, 10, 19, 0)
    assert next_slot(three, before, SHANGHAI) == at


def test_a_daily_slot_across_local_midnight() -> None:
    late = Periodic("p", ECHO, daily_at=time(23, 30))

    # 00:10 on the 11th in Shanghai: the run of 23:30 on the 10th is the current one, although
    # in UTC (16:10 on the 10th) the day has not changed at all.
    slot = current_slot(late, shanghai(2025, 3, 11, 0, 10), SHANGHAI)

    assert slot == shanghai(2025, 3, 10, 23, 30)
    assert current_slot(late, shanghai(2025, 3, 11, 23, 29), SHANGHAI) == slot
    assert current_slot(late, shanghai(2025, 3, 11, 23, 30), SHANGHAI) == next_slot(
        late, slot, SHANGHAI
    )
    # New Year's Eve into the new year, and a leap day.
    assert current_slot(late, shanghai(2025, 1, 1, 0, 5), SHANGHAI) == shanghai(
        2024, 12, 31, 23, 30
    )
    assert next_slot(late, shanghai(2024, 2, 28, 23, 30), SHANGHAI) == shanghai(2024, 2, 29, 23, 30)


def test_the_default_zone_is_the_time_zone_setting(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    three = Periodic("p", ECHO, daily_at=time(3, 0))

    assert current_slot(three, utc(2025, 3, 10, 19, 0)) == shanghai(2025, 3, 11, 3, 0)


def test_register_wants_exactly_one_kind_of_schedule() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        register("x", ECHO)
    with pytest.raises(ValueError, match="exactly one"):
        register("x", ECHO, every=timedelta(minutes=1), daily_at=time(3, 0))
    assert "x" not in SCHEDULE


def test_the_apps_register_the_nightly_jobs() -> None:
    assert SCHEDULE["classifier-retrain"].task_path == "yunbao.dispatch.tasks.retrain_task"
    assert SCHEDULE["classifier-retrain"].daily_at == time(3, 0)
    assert SCHEDULE["jobs-prune"].daily_at == time(4, 30)


# --- Once per slot ---------------------------------------------------------------------------


@pytest.fixture
def schedule() -> dict[str, Periodic]:
    return {
        "minutely": Periodic("minutely", ECHO, every=timedelta(minutes=1)),
        "nightly": Periodic("nightly", ECHO, daily_at=time(3, 0)),
    }


@pytest.mark.django_db
def test_two_schedulers_enqueue_each_slot_once(settings: Any, schedule: Any) -> None:
    settings.TASKS = DATABASE_TASKS
    clock = Clock(utc(2025, 3, 10, 19, 0, 30))  # 03:00:30 in Shanghai
    first = Scheduler(schedule, clock=clock, tz=SHANGHAI)
    second = Scheduler(schedule, clock=clock, tz=SHANGHAI)

    ran = first.tick()
    assert [run.name for run in ran] == ["minutely", "nightly"]
    assert second.tick() == []  # the other scheduler already has both slots
    assert first.tick() == []
    clock.now += timedelta(seconds=20)  # same minute
    assert second.tick() == []
    assert first.tick() == []

    clock.now += timedelta(seconds=20)  # the next minute: only the minutely task
    ran = second.tick() + first.tick()
    assert [(run.name, run.slot) for run in ran] == [("minutely", utc(2025, 3, 10, 19, 1))]

    runs = ScheduledRun.objects.order_by("slot", "name")
    assert [(r.name, r.slot) for r in runs] == [
        ("minutely", utc(2025, 3, 10, 19, 0)),
        ("nightly", utc(2025, 3, 10, 19, 0)),
        ("minutely", utc(2025, 3, 10, 19, 1)),
    ]
    # Each run's task row was written in the run's own transaction, with its id recorded.
    tasks = DBTaskResult.objects.all()
    assert tasks.count() == 3
    assert {str(t.id) for t in tasks} == {r.task_id for r in runs}
    assert all(r.enqueued_at is not None for r in runs)


@pytest.mark.django_db
def test_a_nightly_job_runs_once_per_local_night(settings: Any) -> None:
    settings.TASKS = DATABASE_TASKS
    nightly = {"nightly": Periodic("nightly", ECHO, daily_at=time(3, 0))}
    clock = Clock(shanghai(2025, 3, 11, 2, 59))
    scheduler = Scheduler(nightly, clock=clock, tz=SHANGHAI)

    # First start at 02:59: last night's run is missing, so it is caught up at once.
    assert [r.slot for r in scheduler.tick()] == [shanghai(2025, 3, 10, 3, 0)]
    for minutes in (1, 60 * 12, 60 * 23):  # 03:00, 14:59, 01:59 the next day
        clock.now = shanghai(2025, 3, 11, 2, 59) + timedelta(minutes=minutes)
        if minutes == 1:
            assert [r.slot for r in scheduler.tick()] == [shanghai(2025, 3, 11, 3, 0)]
        else:
            assert scheduler.tick() == []
    # A restart (a new scheduler, an empty memory) does not run the night again.
    assert Scheduler(nightly, clock=clock, tz=SHANGHAI).tick() == []
    assert ScheduledRun.objects.count() == 2


@pytest.mark.django_db
def test_a_broken_task_path_does_not_stop_the_others(settings: Any, caplog: Any) -> None:
    settings.TASKS = DATABASE_TASKS
    schedule = {
        "broken": Periodic("broken", "yunbao.jobs.tasks.no_such_task", every=timedelta(hours=1)),
        "fine": Periodic("fine", ECHO, every=timedelta(hours=1)),
    }
    scheduler = Scheduler(schedule, clock=Clock(utc(2025, 3, 10, 12)))

    assert [r.name for r in scheduler.tick()] == ["fine"]
    assert "broken" in caplog.text
    assert not ScheduledRun.objects.filter(name="broken").exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_in_threads_enqueue_once(settings: Any) -> None:
    """Real concurrency: the unique row decides (PostgreSQL blocks the second insert until
    the first commits, SQLite serialises the writers)."""
    settings.TASKS = DATABASE_TASKS
    schedule = {"hourly": Periodic("hourly", ECHO, every=timedelta(hours=1))}
    clock = Clock(utc(2025, 3, 10, 12, 30))
    start = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            start.wait()
            results.append(len(Scheduler(schedule, clock=clock).tick()))
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sorted(results) == [0, 0, 0, 1]
    assert ScheduledRun.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


# --- Backends outside the database: claim, push, mark ----------------------------------------


class FlakyQueue:
    """Stands in for Redis: the push fails while `down` is set."""

    def __init__(self) -> None:
        self.down = False
        self.pushed = 0


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> FlakyQueue:
    from yunbao.jobs.tasks import echo_task

    queue = FlakyQueue()
    original = type(echo_task).enqueue

    def enqueue(self: Any, *args: Any, **kwargs: Any) -> Any:
        if queue.down:
            raise ConnectionError("queue unreachable")
        queue.pushed += 1
        return original(self, *args, **kwargs)

    # The immediate backend is not transactional either: the scheduler claims, then pushes.
    monkeypatch.setattr(type(echo_task), "enqueue", enqueue)
    return queue


@pytest.mark.django_db
def test_a_failed_push_frees_the_slot_for_the_next_tick(flaky: FlakyQueue, schedule: Any) -> None:
    scheduler = Scheduler({"minutely": schedule["minutely"]}, clock=Clock(utc(2025, 3, 10, 12)))
    flaky.down = True

    assert scheduler.tick() == []
    assert not ScheduledRun.objects.exists()  # the claim was released

    flaky.down = False
    ran = scheduler.tick()
    assert len(ran) == 1
    run = ScheduledRun.objects.get()
    assert run.enqueued_at is not None
    assert run.task_id == ran[0].task_id
    assert flaky.pushed == 1


@pytest.mark.django_db
def test_an_abandoned_claim_is_taken_over_once_it_is_old(flaky: FlakyQueue, schedule: Any) -> None:
    clock = Clock(utc(2025, 3, 10, 12, 0, 10))
    slot = utc(2025, 3, 10, 12, 0)
    # A scheduler claimed the slot and died before pushing.
    ScheduledRun.objects.create(name="hourly", slot=slot, task_path=ECHO, claimed_at=clock.now)
    hourly = {"hourly": Periodic("hourly", ECHO, every=timedelta(hours=1))}
    scheduler = Scheduler(hourly, clock=clock)

    assert scheduler.tick() == []  # a fresh claim: perhaps still being pushed
    assert flaky.pushed == 0

    clock.now += CLAIM_TIMEOUT + timedelta(seconds=1)
    other = Scheduler(hourly, clock=clock)
    ran = other.tick() + scheduler.tick()

    assert [r.slot for r in ran] == [slot]
    assert flaky.pushed == 1
    run = ScheduledRun.objects.get()
    assert run.enqueued_at == clock.now
    assert run.task_id == ran[0].task_id
