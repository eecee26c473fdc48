"""A new order gets its decision through the task queue, enqueued with the order itself."""

from __future__ import annotations

from typing import Any

from django_tasks_db.models import DBTaskResult

from yunbao.dispatch.models import DispatchDecision
from yunbao.workorders import actions
from yunbao.workorders.models import WorkOrder


def submit(world: Any) -> WorkOrder:
    lat, lon = world.point1()
    return actions.submit(
        actor=world.users["erin"], lat=lat, lon=lon, description="路边垃圾", category=world.category
    )


def test_it_decides_for_a_new_order_in_the_background(world: Any, settings: Any) -> None:
    settings.YUNBAO_DECIDE_ON_SUBMIT = True  # tests run tasks inline (ImmediateBackend)
    order = submit(world)
    decision = DispatchDecision.objects.get(order=order)
    assert decision.category == world.category
    assert decision.reasons


def test_it_enqueues_in_the_orders_transaction(world: Any, settings: Any) -> None:
    settings.YUNBAO_DECIDE_ON_SUBMIT = True
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    order = submit(world)
    task = DBTaskResult.objects.get()
    assert task.args_kwargs["args"] == [order.pk]
    assert not DispatchDecision.objects.filter(order=order).exists()  # the worker decides


def test_it_leaves_orders_alone_when_switched_off(world: Any, settings: Any) -> None:
    settings.YUNBAO_DECIDE_ON_SUBMIT = False
    order = submit(world)
    assert not DispatchDecision.objects.filter(order=order).exists()
