"""Test helpers: bring an order to any status, and make any move with valid arguments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from yunbao.testing import stored_photo
from yunbao.workorders import actions
from yunbao.workorders.models import OrderRequest, Status, WorkOrder

# How to reach each status from a fresh report, as (action, who) steps; None = the system.
PATHS: dict[str, list[tuple[str, str | None]]] = {
    Status.SUBMITTED: [],
    Status.ACCEPTED: [("accept", None)],
    Status.DISPATCHED: [("accept", None), ("dispatch", None)],
    Status.IN_PROGRESS: [("accept", None), ("dispatch", None), ("start", "bob")],
    Status.HANDLED: [("accept", None), ("dispatch", None), ("start", "bob"), ("finish", "bob")],
    Status.CLOSED: [
        ("accept", None),
        ("dispatch", None),
        ("start", "bob"),
        ("finish", "bob"),
        ("verify", "carol"),
    ],
    Status.REJECTED: [("reject", None)],
    Status.MERGED: [("merge", None)],
    Status.SUSPENDED: [("accept", None), ("dispatch", None), ("suspend", "carol")],
    Status.VOIDED: [("void", "dave")],
}


def new_order(world: Any, *, reporter: str = "erin", street: int = 1) -> WorkOrder:
    lat, lon = world.point1() if street == 1 else world.point2()
    return actions.submit(
        actor=world.users[reporter],
        lat=lat,
        lon=lon,
        description="路边有垃圾",
        category=world.category,
        reporter_name="Erin",
        reporter_phone="13800000000",
    )


def bring_to(world: Any, status: str, *, street: int = 1) -> WorkOrder:
    order = new_order(world, street=street)
    for action, who in PATHS[status]:
        do(world, action, order, None if who is None else world.users[who])
    assert order.status == status
    return order


def do(world: Any, action: str, order: WorkOrder, actor: Any, at: Any = None) -> Any:
    """Make `action` on `order` as `actor` with arguments that are valid for it."""
    unit, worker = (world.unit1, world.users["bob"])
    if order.grid_id == world.grid2.pk:
        unit, worker = (world.unit2, world.users["walt"])
    if action == "accept":
        return actions.accept(order, actor=actor, at=at)
    if action == "reject":
        return actions.reject(order, actor=actor, note="不属于受理范围", at=at)
    if action == "merge":
        target = new_order(world)
        return actions.merge(order, actor=actor, into=target, at=at)
    if action == "dispatch":
        return actions.dispatch(order, actor=actor, unit=unit, worker=worker, at=at)
    if action == "assign":
        other = world.users["bill"] if worker == world.users["bob"] else worker
        return actions.assign(order, actor=actor, worker=other, at=at)
    if action == "start":
        return actions.start(order, actor=actor, at=at)
    if action == "return":
        return actions.return_order(order, actor=actor, note="不是我们的责任区", at=at)
    if action == "finish":
        return actions.finish(order, actor=actor, note="已清理", at=at, photos=[stored_photo()])
    if action == "arrive":
        return actions.arrive(order, actor=actor, lat=order.lat, lon=order.lon, at=at)
    if action in {"request_extension", "request_suspension", "request_void"}:
        base = order.handle_due or order.created_at
        return actions.request_change(
            order,
            actor=actor,
            kind=action.removeprefix("request_"),
            note="需要协调",
            until=base + timedelta(days=2) if action == "request_extension" else None,
            at=at,
        )
    if action == "refuse":
        if not order.requests.filter(status="pending").exists():
            # A request to refuse, filed without a move of its own.
            OrderRequest.objects.create(
                order=order, kind="void", reason="重复", requested_at=order.created_at
            )
        return actions.transition(order, "refuse", actor=actor, note="不同意", at=at)
    if action == "reopen":
        return actions.reopen(order, actor=actor, note="没有修好", at=at)
    if action == "verify":
        return actions.verify(order, actor=actor, at=at)
    if action == "rework":
        return actions.rework(order, actor=actor, note="还有垃圾", at=at)
    if action == "extend":
        base = order.handle_due or order.created_at
        return actions.extend(
            order, actor=actor, until=base + timedelta(days=1), note="需要吊车", at=at
        )
    if action == "suspend":
        return actions.suspend(order, actor=actor, note="等待产权单位", at=at)
    if action == "resume":
        return actions.resume(order, actor=actor, at=at)
    if action == "void":
        return actions.void(order, actor=actor, note="测试件", at=at)
    if action == "rate":
        return actions.rate(order, actor=actor, rating=5, comment="很快", at=at)
    raise AssertionError(f"no helper for {action}")
