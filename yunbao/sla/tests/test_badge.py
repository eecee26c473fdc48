"""The badge reads right at each level, and the lists, the order page and the dispatcher's
queue show it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from yunbao.sla.display import clock_json
from yunbao.sla.tests.helpers import DUE, WARN, T, dispatched, fresh, submitted
from yunbao.workorders import actions


@pytest.fixture(autouse=True)
def _shares(settings: Any) -> None:
    settings.YUNBAO_SLA_WARN_SHARE = 0.8
    settings.YUNBAO_NOTIFY_DELIVER_ON_COMMIT = False


def badge(order: Any, now: datetime, language: str = "en") -> str:
    with translation.override(language):
        return Template("{% load sla %}{% sla_badge order now %}").render(
            Context({"order": order, "now": now})
        )


@pytest.mark.parametrize(
    ("moment", "css", "text"),
    [
        (T + timedelta(minutes=1), "sla-ok", "1 hour left"),
        (T + timedelta(minutes=70), "sla-ok", "50 minutes left"),
        (WARN + timedelta(minutes=4), "sla-due_soon", "Due soon: 20 minutes left"),
        (DUE + timedelta(hours=3, minutes=5), "sla-overdue", "Overdue by 3 hours"),
        (DUE + timedelta(minutes=1), "sla-overdue", "Overdue by 1 minute"),
        (DUE + timedelta(days=3), "sla-overdue", "Overdue by 3 days"),
    ],
)
def test_the_badge_reads_right_at_each_level(
    world: Any, moment: datetime, css: str, text: str
) -> None:
    html = badge(dispatched(world), moment)
    assert f'class="sla-badge {css}"' in html
    assert f">{text}</span>" in html
    assert 'title="Deadline 2026-03-02 11:00"' in html  # local time (Asia/Shanghai)


def test_the_badge_of_a_paused_order_says_so(world: Any) -> None:
    order = dispatched(world)
    actions.suspend(order, actor=world.users["carol"], note="等批复", at=T + timedelta(minutes=5))
    html = badge(fresh(order), DUE + timedelta(days=1))
    assert 'class="sla-badge sla-paused"' in html
    assert ">Paused</span>" in html


def test_no_badge_without_a_running_clock(world: Any) -> None:
    order = submitted(world)
    actions.reject(order, actor=None, note="不属于受理范围", at=T + timedelta(minutes=1))
    assert badge(order, DUE).strip() == ""
    assert badge(None, DUE).strip() == ""


def test_the_class_and_level_filters(world: Any) -> None:
    order = dispatched(world)  # dispatched in March 2026: overdue by now
    html = Template('{% load sla %}<li class="{{ o|sla_class }}">{{ o|sla_level }}</li>').render(
        Context({"o": order})
    )
    assert html == '<li class="sla-overdue">overdue</li>'


def test_the_badge_renders_in_the_default_language(world: Any) -> None:
    html = badge(dispatched(world), DUE + timedelta(hours=3), "zh-hans")
    assert 'class="sla-badge sla-overdue"' in html


# --- On the pages ------------------------------------------------------------------------


def client_for(world: Any, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


def test_the_home_lists_and_the_order_page_show_the_badge(world: Any) -> None:
    late = dispatched(world, timezone.now() - timedelta(hours=3))
    fine = dispatched(world, timezone.now() - timedelta(minutes=5))
    home = client_for(world, "bob").get(reverse("home")).content.decode()
    assert home.count('class="sla-badge sla-overdue"') >= 1
    assert 'class="sla-badge sla-ok"' in home
    page = client_for(world, "bob").get(reverse("order-detail", args=[late.number]))
    assert 'class="sla-badge sla-overdue"' in page.content.decode()
    page = client_for(world, "bob").get(reverse("order-detail", args=[fine.number]))
    assert 'class="sla-badge sla-ok"' in page.content.decode()


def test_the_console_queue_carries_the_moments_of_the_badge(world: Any) -> None:
    order = submitted(world, timezone.now() - timedelta(minutes=100))
    client = client_for(world, "alice")
    rows = client.get(reverse("dispatch-console-queue")).json()["orders"]
    (row,) = [r for r in rows if r["number"] == order.number]
    assert row["sla"] == clock_json(order)
    assert row["sla"]["paused"] is False
    warn = datetime.fromisoformat(row["sla"]["warn_at"])
    due = datetime.fromisoformat(row["sla"]["due"])
    assert warn == order.created_at + (due - order.created_at) * 0.8
    # The page draws it with the same classes (its strings and script are shipped).
    page = client.get(reverse("dispatch-console")).content.decode()
    assert '"slaDueSoon"' in page
