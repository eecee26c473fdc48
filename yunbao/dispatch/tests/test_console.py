"""The dispatcher's console: who may use it, what its queue holds, and its moves.

Every move here is asserted in the database (status, unit, worker, timeline, corrections),
not only in the page; expected messages are computed with gettext in the page's language.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from yunbao.catalog.models import Category, Kind, Urgency
from yunbao.dispatch.actions import auto_dispatch
from yunbao.dispatch.models import Correction, DispatchDecision, RoutingRule
from yunbao.intake.models import DuplicateSuggestion, MeToo
from yunbao.org.models import Shift
from yunbao.workorders import actions
from yunbao.workorders.models import PhotoKind, Source, Status, TimelineEntry, WorkOrder
from yunbao.workorders.tests.helpers import bring_to, new_order

PAGE = reverse("dispatch-console")
QUEUE = reverse("dispatch-console-queue")
BULK = reverse("dispatch-console-bulk")
DESK = ("alice", "olga", "dave", "ada")
NOT_DESK = ("bob", "walt", "carol", "erin", "fay", "oscar")


def zh(message: str) -> str:
    """`message` as the pages show it (the default language, zh-Hans)."""
    with translation.override("zh-hans"):
        return translation.gettext(message)


def client_for(world: Any, name: str, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(world.users[name])
    return client


def panel_url(order: WorkOrder) -> str:
    return reverse("dispatch-console-order", args=[order.number])


def action_url(order: WorkOrder, action: str) -> str:
    return reverse("dispatch-console-action", args=[order.number, action])


def numbers(response: Any) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {row["number"] for row in response.json()["orders"]}


def suggest(world: Any, order: WorkOrder, **fields: Any) -> DispatchDecision:
    """A decision as the machine would store it: unit one and Bob, not sure enough."""
    values: dict[str, Any] = {
        "category": world.category,
        "confidence": 0.62,
        "unit": world.unit1,
        "worker": world.users["bob"],
        "reasons": {
            "category": {"code": world.category.code, "source": "classifier", "confidence": 0.62},
            "assignment": {
                "on_duty": 2,
                "ranking": [
                    {"worker": "bob", "name": "bob", "distance_m": 40, "workload": 0},
                    {"worker": "bill", "name": "bill", "distance_m": 90, "workload": 2},
                ],
            },
            "fallbacks": [
                {"code": "low_confidence", "text": "…", "confidence": 0.62, "threshold": 0.8}
            ],
        },
    }
    values.update(fields)
    return DispatchDecision.objects.create(order=order, **values)


def other_category() -> Category:
    return Category.objects.create(
        code="E9902",
        kind=Kind.EVENT,
        major_code="99",
        major_name="测试",
        minor_code="02",
        name="测试路灯",
        name_en="Test street light",
    )


def on_duty_all_week(*people: Any) -> None:
    # 00:00 to 00:00 is a 24-hour shift (an end at or before the start runs overnight).
    for person in people:
        for weekday in range(7):
            Shift.objects.create(user=person, weekday=weekday, start=dt.time(0), end=dt.time(0))


# --- Who may use it ----------------------------------------------------------------------


@pytest.mark.parametrize("name", DESK)
def test_it_opens_for_the_desk(world: Any, name: str) -> None:
    order = bring_to(world, Status.SUBMITTED, street=2 if name == "olga" else 1)
    client = client_for(world, name)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert 'id="console-initial"' in page.content.decode()
    assert order.number in numbers(client.get(QUEUE))
    assert client.get(panel_url(order)).status_code == 200


@pytest.mark.parametrize("name", NOT_DESK)
def test_it_refuses_everyone_else(world: Any, name: str) -> None:
    order = bring_to(world, Status.SUBMITTED)
    client = client_for(world, name)
    for url in (PAGE, QUEUE, panel_url(order)):
        response = client.get(url)
        assert response.status_code == 403, (name, url)
        assert order.description not in response.content.decode()
    assert client.post(action_url(order, "reject"), {"note": "no"}).status_code == 403
    assert client.post(BULK, {"action": "reject", "numbers": order.number}).status_code == 403
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED


def test_it_sends_an_anonymous_visitor_to_log_in(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    for url in (PAGE, QUEUE, panel_url(order)):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert Client().post(action_url(order, "reject"), {"note": "x"}).status_code == 302
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED


def test_it_requires_the_csrf_token_on_every_post(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    client = client_for(world, "alice", enforce_csrf_checks=True)
    assert client.post(action_url(order, "reject"), {"note": "spam"}).status_code == 403
    assert client.post(BULK, {"action": "accept", "numbers": order.number}).status_code == 403
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED


# --- The queue ---------------------------------------------------------------------------


def test_it_queues_exactly_the_visible_orders_waiting_for_the_desk(world: Any) -> None:
    submitted = bring_to(world, Status.SUBMITTED)
    accepted = bring_to(world, Status.ACCEPTED)
    for status in (Status.DISPATCHED, Status.REJECTED, Status.CLOSED):
        bring_to(world, status)
    merged = bring_to(world, Status.MERGED)
    original = merged.duplicate_of  # the order it was merged into, still submitted
    assert original is not None
    theirs = bring_to(world, Status.SUBMITTED, street=2)
    theirs_accepted = bring_to(world, Status.ACCEPTED, street=2)

    mine = {submitted.number, accepted.number, original.number}
    assert numbers(client_for(world, "alice").get(QUEUE)) == mine
    # Olga dispatches street two: nothing of street one, not even in the page's first data.
    olga = client_for(world, "olga")
    assert numbers(olga.get(QUEUE)) == {theirs.number, theirs_accepted.number}
    page = olga.get(PAGE).content.decode()
    assert submitted.number not in page
    assert accepted.number not in page
    assert numbers(client_for(world, "dave").get(QUEUE)) == {
        *mine,
        theirs.number,
        theirs_accepted.number,
    }
    # An order outside the queue still opens in the panel (to assign after dispatching) …
    assert client_for(world, "alice").get(panel_url(accepted)).status_code == 200
    # … but one the person may not see does not, not even its number.
    response = olga.get(panel_url(submitted))
    assert response.status_code == 404
    assert submitted.description not in response.content.decode()


def test_it_puts_urgent_orders_first_then_the_newest(world: Any) -> None:
    lat, lon = world.point1()
    old = actions.submit(actor=None, lat=lat, lon=lon, at=timezone.now() - dt.timedelta(hours=3))
    urgent = actions.submit(
        actor=None,
        lat=lat,
        lon=lon,
        urgency=Urgency.URGENT,
        at=timezone.now() - dt.timedelta(hours=2),
    )
    new = actions.submit(actor=None, lat=lat, lon=lon)
    rows = client_for(world, "alice").get(QUEUE).json()["orders"]
    assert [r["number"] for r in rows] == [urgent.number, new.number, old.number]
    assert rows[0]["urgent"] is True
    assert rows[2]["category"] is None  # shown as "unrecognised"
    # The deadline goes with it; the page computes "overdue" from it and its own clock.
    assert dt.datetime.fromisoformat(rows[2]["due"]) < timezone.now()


def test_it_applies_each_filter(world: Any) -> None:
    lat, lon = world.point1()
    plain = new_order(world)
    urgent = actions.submit(
        actor=None,
        lat=lat,
        lon=lon,
        category=world.category,
        urgency=Urgency.URGENT,
        source=Source.HOTLINE,
    )
    unknown = actions.submit(actor=None, lat=lat, lon=lon)
    old = actions.submit(
        actor=None,
        lat=lat,
        lon=lon,
        category=world.category,
        at=timezone.now() - dt.timedelta(days=3),
    )
    east = actions.submit(actor=None, lat=23.0005, lon=113.0015, category=world.category)
    client = client_for(world, "alice")

    def only(**params: str) -> set[str]:
        return numbers(client.get(QUEUE, params))

    everything = {plain.number, urgent.number, unknown.number, old.number, east.number}
    assert only() == everything
    assert only(urgency=Urgency.URGENT) == {urgent.number}
    assert only(source=Source.HOTLINE) == {urgent.number}
    assert only(category="none") == {unknown.number}
    assert only(category=world.category.code) == everything - {unknown.number}
    assert only(age="24") == everything - {old.number}
    assert only(area=world.grid1b.code) == {east.number}
    assert only(area=world.street1.code) == everything
    assert only(scene="test") == everything - {unknown.number}
    assert only(urgency=Urgency.NORMAL, category="none") == {unknown.number}
    # Street two is not Alice's to filter by, and nonsense is refused, not ignored.
    for bad in ({"area": world.street2.code}, {"category": "X0000"}, {"age": "soon"}):
        response = client.get(QUEUE, bad)
        assert response.status_code == 400, bad
        assert "errors" in response.json()


def test_it_answers_304_while_nothing_changed(world: Any) -> None:
    order = bring_to(world, Status.SUBMITTED)
    client = client_for(world, "alice")
    first = client.get(QUEUE)
    version = first.json()["version"]
    assert first["ETag"] == f'"{version}"'
    again = client.get(QUEUE, headers={"if-none-match": f'"{version}"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == f'"{version}"'
    assert client.get(QUEUE, headers={"if-none-match": f'W/"{version}"'}).status_code == 304

    # A new order changes it, and so does a move, a suggestion or a "me too".
    versions = {version}
    newer = new_order(world)
    answer = client.get(QUEUE, headers={"if-none-match": f'"{version}"'})
    assert answer.status_code == 200
    assert newer.number in {row["number"] for row in answer.json()["orders"]}
    versions.add(answer.json()["version"])
    actions.accept(order, actor=None)
    versions.add(client.get(QUEUE).json()["version"])
    DuplicateSuggestion.objects.create(
        order=newer, candidate=order, score=0.7, distance_m=3, text_similarity=0.9
    )
    versions.add(client.get(QUEUE).json()["version"])
    MeToo.objects.create(order=order, device="phone-1")
    versions.add(client.get(QUEUE).json()["version"])
    assert len(versions) == 5
    # Each person's queue has its own version: filters are part of what is drawn.
    assert client.get(QUEUE, {"urgency": Urgency.URGENT}).json()["version"] not in versions


def test_it_flags_duplicates_and_the_machines_suggestion_in_the_queue(world: Any) -> None:
    original = new_order(world)
    repeat = new_order(world)
    DuplicateSuggestion.objects.create(
        order=repeat, candidate=original, score=0.8, distance_m=2, text_similarity=1.0
    )
    suggest(world, repeat)
    MeToo.objects.create(order=repeat, device="phone-1")
    rows = {r["number"]: r for r in client_for(world, "alice").get(QUEUE).json()["orders"]}
    assert rows[repeat.number]["duplicates"] == 1
    assert rows[repeat.number]["me_too"] == 1
    assert rows[original.number]["duplicates"] == 0
    suggestion = rows[repeat.number]["suggestion"]
    assert suggestion["unit"] == world.unit1.name
    assert suggestion["worker"] == "bob"
    assert suggestion["confidence"] == 0.62
    low = zh("The category is not certain enough: %(confidence)s, below %(threshold)s.")
    assert suggestion["fallbacks"] == [low % {"confidence": "62%", "threshold": "80%"}]
    assert rows[original.number]["suggestion"] is None
    # A candidate that can no longer be merged into is no duplicate to offer.
    actions.reject(original, actor=None, note="不是问题")
    rows = {r["number"]: r for r in client_for(world, "alice").get(QUEUE).json()["orders"]}
    assert rows[repeat.number]["duplicates"] == 0


def test_it_brings_a_returned_order_back_with_the_units_reason(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    actions.return_order(order, actor=world.users["bob"], note="这是绿化队的树，不归环卫")
    row = next(
        r
        for r in client_for(world, "alice").get(QUEUE).json()["orders"]
        if r["number"] == order.number
    )
    assert row["status"] == Status.ACCEPTED
    assert row["returned"]["reason"] == "这是绿化队的树，不归环卫"
    assert row["returned"]["unit"] == world.unit1.name
    assert row["returned"]["by"] == "bob"
    html = client_for(world, "alice").get(panel_url(order)).content.decode()
    assert "这是绿化队的树，不归环卫" in html
    assert zh("Returned") in html
    # Dispatched again, it is no longer "returned" anywhere.
    actions.dispatch(order, actor=None, unit=world.unit1, worker=world.users["bill"])
    assert order.number not in numbers(client_for(world, "alice").get(QUEUE))


def test_it_never_sends_an_order_back_to_the_unit_that_returned_it(world: Any) -> None:
    order = bring_to(world, Status.DISPATCHED)
    suggest(world, order)  # the machine says unit one, whose Bob returns it
    actions.return_order(order, actor=world.users["bob"], note="不归我们管")
    client = client_for(world, "alice")
    html = client.get(panel_url(order)).content.decode()
    assert 'data-action="suggested"' not in html
    assert zh("The machine suggests this same unit: choose the unit yourself.") in html
    assert f'<option value="{world.unit1.pk}" selected>' not in html
    refused = client.post(action_url(order, "suggested"))
    assert refused.status_code == 400
    message = zh("%(unit)s returned this order; choose the unit yourself.")
    assert message % {"unit": world.unit1.name} in refused.content.decode()
    bulk = client.post(BULK, {"action": "suggested", "numbers": [order.number]}).json()
    assert bulk["failed"] == 1
    order.refresh_from_db()
    assert (order.status, order.unit) == (Status.ACCEPTED, None)
    # The dispatcher may still choose that unit herself, with another worker.
    chosen = {"unit": world.unit1.pk, "worker": world.users["bill"].pk}
    assert client.post(action_url(order, "dispatch"), chosen).status_code == 200
    order.refresh_from_db()
    assert (order.status, order.worker) == (Status.DISPATCHED, world.users["bill"])


def test_it_shows_the_photos_of_the_order_and_of_its_duplicate(world: Any) -> None:
    original, repeat = new_order(world), new_order(world)
    for order, name in ((original, "first"), (repeat, "second")):
        actions.add_photo(
            order,
            actor=None,
            kind=PhotoKind.BEFORE,
            image=f"photos/2025/01/{name}.jpg",
            thumbnail=f"photos/2025/01/{name}-thumb.jpg",
        )
    DuplicateSuggestion.objects.create(
        order=repeat, candidate=original, score=0.8, distance_m=2, text_similarity=1.0
    )
    client = client_for(world, "alice")
    html = client.get(panel_url(repeat)).content.decode()
    assert 'src="/media/photos/2025/01/second-thumb.jpg"' in html
    assert 'href="/media/photos/2025/01/second.jpg"' in html  # the full photo, one click away
    assert 'src="/media/photos/2025/01/first-thumb.jpg"' in html  # the candidate's, beside it
    rows = {r["number"]: r for r in client.get(QUEUE).json()["orders"]}
    assert rows[repeat.number]["photos"] == 1


def test_it_shows_the_workers_on_duty_in_the_persons_areas(world: Any) -> None:
    on_duty_all_week(world.users["bob"], world.users["walt"])
    bring_to(world, Status.DISPATCHED)  # Bob has one task
    alice = client_for(world, "alice").get(QUEUE).json()["workers"]
    assert [(w["name"], w["unit"], w["tasks"]) for w in alice] == [("bob", world.unit1.name, 1)]
    assert (alice[0]["lat"], alice[0]["lon"]) == (
        round(world.street1.center_lat, 6),
        round(world.street1.center_lon, 6),
    )
    olga = client_for(world, "olga").get(QUEUE).json()["workers"]
    assert [w["name"] for w in olga] == ["walt"]
    dave = client_for(world, "dave").get(QUEUE).json()["workers"]
    assert sorted(w["name"] for w in dave) == ["bob", "walt"]


# --- The panel ---------------------------------------------------------------------------


def test_it_shows_the_machines_reasons_from_the_real_decision(world: Any, settings: Any) -> None:
    settings.YUNBAO_AUTO_DISPATCH = False
    RoutingRule.objects.create(category=world.category, area=world.street1, unit=world.unit1)
    on_duty_all_week(world.users["bob"], world.users["bill"])
    order = new_order(world)
    decision = auto_dispatch(order)
    assert decision.unit == world.unit1
    assert not decision.automatic
    html = client_for(world, "alice").get(panel_url(order)).content.decode()
    assert str(world.unit1) in html
    assert zh("Automatic dispatch is switched off.") in html
    assert zh("chosen by the reporter") in html
    assert "bill" in html
    assert "bob" in html
    assert zh("Accept and dispatch as suggested") in html


def test_it_escapes_a_hostile_description(world: Any) -> None:
    lat, lon = world.point1()
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    order = actions.submit(actor=None, lat=lat, lon=lon, description=hostile)
    client = client_for(world, "alice")
    html = client.get(panel_url(order)).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    # The page's first data is JSON in a script element: "<" is escaped there too.
    page = client.get(PAGE).content.decode()
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert client.get(QUEUE).json()["orders"][0]["summary"].startswith("<script>")


def test_it_shows_duplicates_side_by_side_and_merges_into_one(world: Any) -> None:
    original = new_order(world)
    repeat = new_order(world)
    DuplicateSuggestion.objects.create(
        order=repeat, candidate=original, score=0.81, distance_m=4.4, text_similarity=1.0
    )
    client = client_for(world, "alice")
    html = client.get(panel_url(repeat)).content.decode()
    assert original.number in html
    assert "data-top" in html
    response = client.post(action_url(repeat, "merge"), {"into": original.number})
    assert response.status_code == 200
    repeat.refresh_from_db()
    assert (repeat.status, repeat.duplicate_of) == (Status.MERGED, original)
    entry = repeat.timeline.last()
    assert entry is not None
    assert (entry.action, entry.actor) == ("merge", world.users["alice"])
    assert zh("Merge as duplicate") in response.content.decode()


def test_it_merges_only_into_an_order_the_dispatcher_may_see(world: Any) -> None:
    order = new_order(world)
    elsewhere = bring_to(world, Status.SUBMITTED, street=2)
    client = client_for(world, "alice")
    for into in (elsewhere.number, "YB-nonsense", order.number):
        response = client.post(action_url(order, "merge"), {"into": into})
        assert response.status_code == 400, into
    html = response.content.decode()
    assert zh("An order cannot be a duplicate of itself.") in html
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
    refused = client.post(action_url(order, "merge"), {"into": elsewhere.number})
    assert zh("No order with that number.") in refused.content.decode()


def test_it_accepts_and_keeps_a_correction_when_the_category_changed(world: Any) -> None:
    lights = other_category()
    agreed, corrected = new_order(world), new_order(world)
    for order in (agreed, corrected):
        suggest(world, order)
    client = client_for(world, "alice")
    response = client.post(action_url(agreed, "accept"), {"category": world.category.pk})
    assert response.status_code == 200
    assert Correction.objects.count() == 0
    response = client.post(
        action_url(corrected, "accept"), {"category": lights.pk, "urgency": Urgency.URGENT}
    )
    assert response.status_code == 200
    assert zh("Accept (file)") in response.content.decode()
    for order in (agreed, corrected):
        order.refresh_from_db()
        assert order.status == Status.ACCEPTED
    assert (corrected.category, corrected.urgency) == (lights, Urgency.URGENT)
    correction = Correction.objects.get()
    assert (correction.order, correction.predicted, correction.corrected, correction.actor) == (
        corrected,
        world.category,
        lights,
        world.users["alice"],
    )
    assert correction.text == corrected.description


def test_it_refuses_to_accept_twice_and_says_why(world: Any) -> None:
    order = bring_to(world, Status.ACCEPTED)
    response = client_for(world, "alice").post(
        action_url(order, "accept"), {"category": world.category.pk}
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert order.timeline.filter(action="accept").count() == 1


def test_it_rejects_only_with_a_reason(world: Any) -> None:
    order = new_order(world)
    client = client_for(world, "alice")
    response = client.post(action_url(order, "reject"), {"note": "  "})
    assert response.status_code == 400
    reason_needed = zh("A reason is required to %(action)s.") % {"action": zh("Reject")}
    assert reason_needed in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED
    assert client.post(action_url(order, "reject"), {"note": "重复上报"}).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.REJECTED
    assert order.timeline.get(action="reject").note == "重复上报"


def test_it_dispatches_to_a_chosen_unit_and_worker_then_assigns(world: Any) -> None:
    order = bring_to(world, Status.ACCEPTED)
    client = client_for(world, "alice")
    # Walt works for unit two: refused by the verb, nothing changes.
    wrong = client.post(
        action_url(order, "dispatch"), {"unit": world.unit1.pk, "worker": world.users["walt"].pk}
    )
    assert wrong.status_code == 400
    assert zh("%(name)s does not work for that unit.") % {"name": "walt"} in wrong.content.decode()
    order.refresh_from_db()
    assert order.status == Status.ACCEPTED
    done = client.post(
        action_url(order, "dispatch"),
        {"unit": world.unit1.pk, "worker": world.users["bob"].pk, "note": "带梯子"},
    )
    assert done.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.unit, order.worker) == (
        Status.DISPATCHED,
        world.unit1,
        world.users["bob"],
    )
    assert 'data-action="assign"' in done.content.decode()  # the next move is offered
    assert (
        client.post(action_url(order, "assign"), {"worker": world.users["bill"].pk}).status_code
        == 200
    )
    order.refresh_from_db()
    assert order.worker == world.users["bill"]
    assert list(order.timeline.values_list("action", flat=True)) == [
        "submit",
        "accept",
        "dispatch",
        "assign",
    ]


def test_it_dispatches_as_suggested_or_not_at_all(world: Any) -> None:
    order = new_order(world)
    suggest(world, order)
    client = client_for(world, "alice")
    assert client.post(action_url(order, "suggested")).status_code == 200
    order.refresh_from_db()
    assert (order.status, order.unit, order.worker) == (
        Status.DISPATCHED,
        world.unit1,
        world.users["bob"],
    )
    # A suggestion that no longer holds (Walt is not of unit one): the accept is undone too.
    stale = new_order(world)
    suggest(world, stale, worker=world.users["walt"])
    response = client.post(action_url(stale, "suggested"))
    assert response.status_code == 400
    stale.refresh_from_db()
    assert stale.status == Status.SUBMITTED
    assert list(stale.timeline.values_list("action", flat=True)) == ["submit"]
    assert 'data-number="' + stale.number + '" data-status="submitted"' in response.content.decode()
    # Without a suggestion there is nothing to follow.
    bare = new_order(world)
    response = client.post(action_url(bare, "suggested"))
    assert response.status_code == 400
    assert zh("The machine has no unit to suggest for this order.") in response.content.decode()


def test_it_answers_404_for_an_unknown_move(world: Any) -> None:
    order = new_order(world)
    assert (
        client_for(world, "alice").post(action_url(order, "void"), {"note": "x"}).status_code == 404
    )
    order.refresh_from_db()
    assert order.status == Status.SUBMITTED


# --- Bulk --------------------------------------------------------------------------------


def test_it_accepts_in_bulk_and_reports_each_refusal(world: Any) -> None:
    first, second = new_order(world), new_order(world)
    lat, lon = world.point1()
    uncategorised = actions.submit(actor=None, lat=lat, lon=lon, description="看不懂")
    already = bring_to(world, Status.ACCEPTED)
    elsewhere = bring_to(world, Status.SUBMITTED, street=2)
    order_numbers = [first.number, uncategorised.number, second.number, already.number]
    response = client_for(world, "alice").post(
        BULK, {"action": "accept", "numbers": [*order_numbers, elsewhere.number]}
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["ok"], data["failed"]) == (2, 3)
    results = {r["number"]: r for r in data["results"]}
    assert results[first.number]["ok"]
    assert results[second.number]["ok"]
    assert results[uncategorised.number]["message"] == zh(
        "Choose a category before accepting the order."
    )
    assert not results[already.number]["ok"]
    assert results[elsewhere.number]["message"] == zh("No order with that number.")
    statuses = dict(WorkOrder.objects.values_list("number", "status"))
    assert statuses[first.number] == statuses[second.number] == Status.ACCEPTED
    assert statuses[uncategorised.number] == Status.SUBMITTED
    assert statuses[elsewhere.number] == Status.SUBMITTED
    assert TimelineEntry.objects.filter(order=already, action="accept").count() == 1


def test_it_rejects_and_dispatches_in_bulk(world: Any) -> None:
    spam, real = new_order(world), new_order(world)
    suggest(world, real)
    client = client_for(world, "alice")
    refused = client.post(BULK, {"action": "reject", "numbers": [spam.number]})
    assert refused.status_code == 400
    assert client.post(BULK, {"action": "frobnicate", "numbers": [spam.number]}).status_code == 400
    assert client.post(BULK, {"action": "accept"}).status_code == 400
    data = client.post(BULK, {"action": "reject", "numbers": [spam.number], "note": "广告"}).json()
    assert data["ok"] == 1
    data = client.post(BULK, {"action": "suggested", "numbers": [real.number, spam.number]}).json()
    assert (data["ok"], data["failed"]) == (1, 1)
    spam.refresh_from_db()
    real.refresh_from_db()
    assert spam.status == Status.REJECTED
    assert (real.status, real.worker) == (Status.DISPATCHED, world.users["bob"])
