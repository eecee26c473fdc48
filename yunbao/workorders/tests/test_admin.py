"""The work-order admin: read-only, and limited to what the viewer may see."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from yunbao.workorders.models import Status
from yunbao.workorders.tests.helpers import bring_to


def test_it_lists_only_visible_orders_and_changes_nothing(world: Any) -> None:
    one = bring_to(world, Status.SUBMITTED)
    two = bring_to(world, Status.SUBMITTED, street=2)
    carol = world.users["carol"]  # a supervisor of street one, with admin-site access
    carol.is_staff = True
    carol.save()
    client = Client()
    client.force_login(carol)
    page = client.get(reverse("admin:workorders_workorder_changelist")).content.decode()
    assert one.number in page
    assert two.number not in page
    assert client.get(reverse("admin:workorders_workorder_change", args=[two.pk])).status_code in (
        302,
        404,
    )
    response = client.post(
        reverse("admin:workorders_workorder_change", args=[one.pk]), {"status": Status.CLOSED}
    )
    assert response.status_code == 403
    one.refresh_from_db()
    assert one.status == Status.SUBMITTED
    assert client.get(reverse("admin:workorders_workorder_add")).status_code == 403
