"""The role-aware home page: each person first sees the work that is theirs.

Every list is read through `WorkOrder.objects.visible_to`, so the home page can never show
more than the order pages would.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from yunbao.community.access import may_organise
from yunbao.fleet.devices import may_watch
from yunbao.insight.views import may_view as may_view_insight
from yunbao.org.models import Role
from yunbao.org.roles import roles_of
from yunbao.workorders.models import Status, WorkOrder, WorkOrderQuerySet

LIST_LIMIT = 50


@dataclass
class Panel:
    title: Promise
    orders: list[WorkOrder]
    total: int


def _panel(title: Promise, queryset: WorkOrderQuerySet, order_by: str = "-created_at") -> Panel:
    rows = queryset.select_related("category", "grid", "worker").order_by(order_by)
    return Panel(title, list(rows[:LIST_LIMIT]), queryset.count())


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    roles = roles_of(user)
    visible = WorkOrder.objects.visible_to(user)
    panels: list[Panel] = []
    if roles & {Role.DISPATCHER, Role.MANAGER, Role.ADMIN}:
        panels.append(
            _panel(
                _("Waiting to be accepted"), visible.filter(status=Status.SUBMITTED), "accept_due"
            )
        )
        panels.append(
            _panel(
                _("Waiting to be dispatched"),
                visible.filter(status=Status.ACCEPTED),
                "dispatch_due",
            )
        )
    if Role.WORKER in roles:
        mine = visible.filter(worker_id=user.pk, status__in=[Status.DISPATCHED, Status.IN_PROGRESS])
        panels.append(_panel(_("My tasks"), mine, "handle_due"))
    if roles & {Role.SUPERVISOR, Role.INSPECTOR}:
        panels.append(
            _panel(_("Waiting to be checked"), visible.filter(status=Status.HANDLED), "check_due")
        )
    if roles & {Role.SUPERVISOR, Role.MANAGER}:
        panels.append(_panel(_("Suspended"), visible.filter(status=Status.SUSPENDED)))
    if roles & {Role.MANAGER, Role.ADMIN}:
        panels.append(_panel(_("Overdue"), visible.overdue()))
    if roles & {Role.DISPATCHER, Role.MANAGER, Role.ADMIN}:
        panels.append(
            _panel(
                _("Being handled"),
                visible.filter(status__in=[Status.DISPATCHED, Status.IN_PROGRESS]),
                "handle_due",
            )
        )
    panels.append(_panel(_("My reports"), visible.filter(reporter_id=user.pk)))
    counts = dict(visible.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    status_counts = [(label, counts.get(value, 0)) for value, label in Status.choices]
    overdue = visible.overdue().count()
    tools: list[tuple[Promise, str]] = [(_("Report a problem"), reverse("intake-report"))]
    if Role.WORKER in roles:
        tools.insert(0, (_("My tasks"), reverse("field:tasks")))
    if roles & {Role.SUPERVISOR, Role.MANAGER, Role.ADMIN}:
        tools.insert(0, (_("Verification queue"), reverse("field:check-queue")))
    if roles & {Role.DISPATCHER, Role.MANAGER, Role.ADMIN}:
        tools.append((_("Dispatcher console"), reverse("dispatch-console")))
    if roles & {Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR, Role.ADMIN}:
        tools.append((_("Where would this go?"), reverse("dispatch-where")))
    if roles & {Role.DISPATCHER, Role.MANAGER, Role.SUPERVISOR, Role.ORGANISER, Role.ADMIN}:
        tools.append((_("QR posters"), reverse("qr-index")))
    if may_watch(user):  # the fleet pages' own rule (area roles, unit leaders)
        tools.append((_("Live map"), reverse("fleet:live")))
        tools.append((_("Attendance"), reverse("fleet:attendance")))
        tools.append((_("Coverage"), reverse("fleet:coverage")))
    if may_view_insight(user):  # the operations centre's own rule (yunbao.insight.views)
        tools.append((_("Operations centre"), reverse("insight:dashboard")))
        tools.append((_("Big screen"), reverse("insight:screen")))
    if may_organise(user):  # the community app's own rule (yunbao.community.access)
        tools.append((_("Organise activities"), reverse("community:manage-list")))
    tools.append((_("My reports"), reverse("intake-mine")))
    tools.append((_("Volunteer activities"), reverse("community:calendar")))
    tools.append((_("My points"), reverse("community:me")))
    return render(
        request,
        "web/home.html",
        {
            "tools": tools,
            "panels": panels,
            "roles": [Role(r).label for r in sorted(roles)],
            "status_counts": status_counts,
            "overdue": overdue,
            "now": timezone.now(),
            "show_counts": bool(roles - {Role.RESIDENT, Role.ORGANISER}),
        },
    )
