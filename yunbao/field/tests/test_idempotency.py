"""Offline replay: an action sent again with its key is answered, never made twice."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection
from django.urls import reverse

from yunbao.field.actions import BadKey, KeyConflict, once
from yunbao.field.models import FieldAction
from yunbao.field.tests.helpers import JSON, act, client_for, jpeg, key
from yunbao.testing import World
from yunbao.workorders import actions as moves
from yunbao.workorders.models import PhotoKind, Status
from yunbao.workorders.tests.helpers import bring_to


@pytest.mark.django_db
def test_a_replayed_start_returns_the_first_result_and_makes_no_second_move(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    bob = client_for(world, "bob")
    k = key()
    first = act(bob, order.number, "start", key=k)
    again = act(bob, order.number, "start", key=k)
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] is True
    assert {k: v for k, v in again.json().items() if k != "replayed"} == {
        k: v for k, v in first.json().items() if k != "replayed"
    }
    assert order.timeline.filter(action="start").count() == 1
    assert FieldAction.objects.filter(key=k).count() == 1


@pytest.mark.django_db
def test_a_replayed_finish_with_photos_stores_no_second_set(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    k = key()
    url = reverse("field:task-action", args=[order.number, "finish"])
    first = bob.post(url, {"key": k, "note": "好了", "photos": [jpeg()]}, **JSON)
    again = bob.post(url, {"key": k, "note": "好了", "photos": [jpeg()]}, **JSON)
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["entry"] == first.json()["entry"]
    assert order.photos.filter(kind=PhotoKind.AFTER).count() == 1
    assert order.timeline.filter(action="finish").count() == 1


@pytest.mark.django_db
def test_an_arrival_queued_twice_is_recorded_once(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    k = key()
    for _ in range(3):
        response = act(bob, order.number, "arrive", key=k, lat=order.lat, lon=order.lon)
        assert response.status_code == 200
    assert order.timeline.filter(action="arrive").count() == 1


@pytest.mark.django_db
def test_a_key_reused_for_another_action_or_order_is_refused(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    order = bring_to(world, Status.DISPATCHED)
    other = bring_to(world, Status.DISPATCHED)
    bob = client_for(world, "bob")
    k = key()
    assert act(bob, order.number, "start", key=k).status_code == 200
    with caplog.at_level(logging.WARNING):
        response = act(bob, other.number, "start", key=k)
    assert response.status_code == 409
    assert response.json()["detail"]
    other.refresh_from_db()
    assert other.status == Status.DISPATCHED
    assert "reused" in caplog.text
    response = act(bob, order.number, "return", key=k, note="不是我们的")
    assert response.status_code == 409
    order.refresh_from_db()
    assert order.status == Status.IN_PROGRESS


@pytest.mark.django_db
def test_another_person_cannot_replay_someone_elses_key(world: World) -> None:
    order = bring_to(world, Status.HANDLED)
    k = key()
    assert (
        client_for(world, "carol")
        .post(reverse("field:check-action", args=[order.number, "verify"]), {"key": k}, **JSON)
        .status_code
        == 200
    )
    response = client_for(world, "dave").post(
        reverse("field:check-action", args=[order.number, "verify"]), {"key": k}, **JSON
    )
    assert response.status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["", "short", "has spaces in it", "x" * 65, "semi;colon!"])
def test_a_missing_or_malformed_key_is_refused(world: World, bad: str) -> None:
    order = bring_to(world, Status.DISPATCHED)
    response = act(client_for(world, "bob"), order.number, "start", key=bad)
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.DISPATCHED


@pytest.mark.django_db
def test_once_checks_the_key_itself(world: World) -> None:
    order = bring_to(world, Status.DISPATCHED)
    bob = world.users["bob"]
    with pytest.raises(BadKey):
        once(
            "bad key",
            user=bob,
            order=order,
            action="start",
            move=lambda: moves.start(order, actor=bob),
        )
    k = key()
    once(k, user=bob, order=order, action="start", move=lambda: moves.start(order, actor=bob))
    with pytest.raises(KeyConflict):
        once(k, user=bob, order=order, action="arrive", move=lambda: moves.start(order, actor=bob))


@pytest.mark.django_db
def test_a_refused_move_records_no_key_so_a_corrected_retry_works(world: World) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    k = key()
    assert act(bob, order.number, "finish", key=k, note="好了").status_code == 400  # no photo
    assert not FieldAction.objects.filter(key=k).exists()
    url = reverse("field:task-action", args=[order.number, "finish"])
    assert bob.post(url, {"key": k, "note": "好了", "photos": [jpeg()]}, **JSON).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_twins_make_one_move(world: World) -> None:
    """Two requests with one key at the same moment (a retry racing the original): one
    move, and both get its result."""
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("needs a database file shared between threads")
    order = bring_to(world, Status.DISPATCHED)
    k = key()
    results: list[int] = []
    barrier = threading.Barrier(2)

    def send() -> None:
        from django.db import connections

        try:
            client = client_for(world, "bob")
            barrier.wait()
            results.append(act(client, order.number, "start", key=k).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200]
    assert order.timeline.filter(action="start").count() == 1
    assert FieldAction.objects.filter(key=k).count() == 1


@pytest.mark.django_db
def test_a_replayed_return_is_answered_though_the_order_is_no_longer_the_workers(
    world: World,
) -> None:
    order = bring_to(world, Status.IN_PROGRESS)
    bob = client_for(world, "bob")
    k = key()
    first = act(bob, order.number, "return", key=k, note="不是我们的路段")
    again = act(bob, order.number, "return", key=k, note="不是我们的路段")
    assert first.status_code == again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["entry"] == first.json()["entry"]
    assert order.timeline.filter(action="return").count() == 1
    # Without its key, the order is simply not his any more.
    assert act(bob, order.number, "return", note="再退一次").status_code == 404
