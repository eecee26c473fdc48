"""`rows.insert` writes what `Model.save()` writes: every column read back equal, the key
set, `auto_now` stamped, the save signals sent, a taken unique key refused as Django's
`IntegrityError`."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django_tasks_db.models import DBTaskResult, get_date_max

from yunbao.intake.models import Submission
from yunbao.lib import rows
from yunbao.testing import World
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder

pytestmark = pytest.mark.django_db

LOCAL = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2025, 3, 3, 9, 2, 3, 456789, tzinfo=LOCAL)


def _columns(instance: Model, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row as the database holds it, read back through the ORM."""
    names = [f.attname for f in instance._meta.concrete_fields if f.attname not in skip]
    row = type(instance)._default_manager.filter(pk=instance.pk).values(*names).get()
    return row


def _order(world: World, number: str) -> WorkOrder:
    return WorkOrder(
        number=number,
        status=Status.ACCEPTED,
        source=Source.INSPECTOR,
        category=world.category,
        description="井盖松动 <b>'引号'</b>",
        lat=23.000512345,
        lon=113.000498765,
        h3_cell="8a411c000000fff",
        grid=world.grid1,
        area_path=world.grid1.path,
        unit=world.unit1,
        reporter=world.users["erin"],
        reporter_phone="13800138000",
        created_at=T0,
        accept_due=T0 + dt.timedelta(hours=2),
        accepted_at=T0 + dt.timedelta(minutes=5),
        rework_count=2,
    )


def test_an_order_reads_back_as_the_orm_saved_it(world: World) -> None:
    by_orm = _order(world, "R-ORM")
    by_orm.save()
    fast = _order(world, "R-FAST")
    assert rows.insert(fast) is fast
    assert fast.pk is not None
    assert fast.pk != by_orm.pk
    assert fast._state.adding is False
    skip = ("id", "number", "updated_at")
    assert _columns(fast, skip=skip) == _columns(by_orm, skip=skip)
    fast.refresh_from_db()
    assert fast.created_at == T0  # a local time stored as the same instant
    assert fast.updated_at is not None  # auto_now stamped as save() would
    assert abs((fast.updated_at - by_orm.updated_at).total_seconds()) < 60
    # The instance goes on as a saved one: a later save updates its row.
    fast.description = "改了"
    fast.save()
    assert WorkOrder.objects.get(pk=fast.pk).description == "改了"
    assert WorkOrder.objects.count() == 2


def test_json_booleans_and_nulls(world: World) -> None:
    order = rows.insert(_order(world, "R-1"))
    data = {"k": [1, "二", None], "nested": {"ok": True}}
    entries = []
    for on_time, payload in ((None, {}), (True, data), (False, [])):
        orm = TimelineEntry.objects.create(
            order=order, action="accept", to_status="accepted", at=T0, on_time=on_time, data=payload
        )
        fast = rows.insert(
            TimelineEntry(
                order=order,
                action="accept",
                to_status="accepted",
                at=T0,
                on_time=on_time,
                data=payload,
            )
        )
        assert _columns(fast, skip=("id",)) == _columns(orm, skip=("id",))
        entries.append(fast)
    assert TimelineEntry.objects.get(pk=entries[1].pk).data == data
    assert TimelineEntry.objects.get(pk=entries[0].pk).on_time is None


def test_auto_now_add_and_a_taken_unique_key(world: World) -> None:
    order = rows.insert(_order(world, "R-2"))
    other = rows.insert(_order(world, "R-3"))
    first = rows.insert(
        Submission(key="k-1", digest="d", order=order, tracking_token="t-1", location_source="map")
    )
    assert first.created_at is not None
    assert Submission.objects.get(pk=first.pk).location_source == "map"
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(Submission(key="k-1", digest="d", order=other, tracking_token="t-2"))
    assert Submission.objects.count() == 1


def test_a_given_key_the_save_signals_and_a_uuid(world: World) -> None:
    seen: list[tuple[str, bool]] = []

    def before(sender: Any, instance: Any, **kw: Any) -> None:
        seen.append(("pre", instance._state.adding))

    def after(sender: Any, instance: Any, created: bool, **kw: Any) -> None:
        seen.append(("post", created))

    pre_save.connect(before, sender=DBTaskResult)
    post_save.connect(after, sender=DBTaskResult)
    try:
        key = uuid.uuid4()
        task: DBTaskResult[Any, Any] = rows.insert(
            DBTaskResult(
                id=key,
                args_kwargs={"args": [1], "kwargs": {"x": "二"}},
                priority=0,
                task_path="yunbao.example",
                queue_name="default",
                run_after=None,  # type: ignore[misc]
                backend_name="default",
            )
        )
    finally:
        pre_save.disconnect(before, sender=DBTaskResult)
        post_save.disconnect(after, sender=DBTaskResult)
    assert seen == [("pre", True), ("post", True)]
    stored = DBTaskResult.objects.get(pk=key)
    assert task.pk == key
    # The library's own pre_save handler filled in `run_after`, as on its own save.
    assert stored.run_after == get_date_max()
    assert stored.args_kwargs == {"args": [1], "kwargs": {"x": "二"}}
    assert stored.enqueued_at is not None


def test_a_decimal_column_is_prepared() -> None:
    from yunbao.community.models import SignUp

    # A decimal column goes through its field's preparation (SQLite has no decimal type).
    field = SignUp._meta.get_field("hours")
    plan = rows._plan(SignUp, connection.vendor, False)
    prepare = plan.prepare[plan.attnames.index(field.attname)]
    assert prepare is not None
    assert prepare(Decimal("1.50")) == field.get_db_prep_save(Decimal("1.50"), connection)


def test_a_model_with_a_database_default_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from yunbao.community.models import SignUp

    # save() leaves a db_default column out when it holds the default; insert() refuses it.
    monkeypatch.setattr(SignUp._meta.get_field("hours"), "db_default", Decimal(0))
    with pytest.raises(ValueError, match="db_default"):
        rows._Plan(SignUp, with_pk=False)
