"""The dispatcher's console (人工筛选): the desk for every order the machine did not settle.

One page in three columns: the live queue with its filters, a map of the queue, of the
workers on duty and of the vehicles (at their last fixes, greyed once older than
FLEET_POSITION_MAX_AGE_MINUTES), and the panel of the chosen order (photos, the machine's
suggestion and its reasons, likely duplicates side by side, and one form per move). The
page polls `queue.json`; the panel is an HTML fragment; the panel's forms and the bulk bar
post here.

Who may use it
--------------
Dispatchers, operations managers and administrators (`DESK_ROLES`): the roles the state
machine lets accept, reject, merge and dispatch. Anyone else who is logged in gets 403 and
an anonymous visitor the login page. That includes supervisors, deliberately: the queue holds
orders nobody has been dispatched to yet (an order their unit returned, 回退, has already
left the unit), so there is no "unit's queue" to show them, and none of its moves is theirs.
They follow their unit's work on the home page and the order pages.

Reads and writes
----------------
Every order is read through `WorkOrder.objects.visible_to(user)`: the queue, the panel,
duplicate candidates, an order number typed as a merge target, the workers' task counts. A
dispatcher of one street therefore sees that street's queue and nothing else. Every write is
a verb of `yunbao.workorders.actions`, so the transition table decides what is allowed and
the timeline records it; accepting with another category than the machine recognised also
calls `dispatch.actions.record_correction` (training data for the classifier). A refused
move (`TransitionError`) changes nothing and its message is shown in the panel.

The queue and its version
-------------------------
The queue is the visible orders waiting for the desk: submitted ones (accept, reject or
merge) and accepted ones (dispatch), among them those a unit returned, urgent first, then
newest, at most `QUEUE_LIMIT`. The page polls every `POLL_SECONDS` with the last `version`
in If-None-Match. The version is a digest of exactly what the page draws (orders, labels,
suggestions, flags, workers), so it changes when and only when the page would; ages and
"overdue" are computed in the browser from the timestamps, so the passing of time alone
does not change it. Building the answer is a fixed handful of queries whatever the queue's
length, plus four per unit for the roster (`org.duty.on_duty`), and an unchanged queue is
answered 304 without a body.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from yunbao.catalog.models import Category, Scene, Urgency
from yunbao.dispatch.actions import record_correction
from yunbao.dispatch.assign import display_name
from yunbao.dispatch.models import DispatchDecision
from yunbao.dispatch.policy import FALLBACK_TEXTS, fallback_text
from yunbao.dispatch.positions import latest_positions
from yunbao.fleet.devices import latest_for_users, live_rows, position_max_age, visible_devices
from yunbao.fleet.models import DeviceKind
from yunbao.geo.models import Area, Level
from yunbao.intake.models import DuplicateSuggestion, MeToo
from yunbao.org.duty import on_duty
from yunbao.org.models import Role, Unit
from yunbao.org.roles import areas_of, roles_of
from yunbao.sla.display import clock_json
from yunbao.workorders import actions
from yunbao.workorders.actions import InvalidInput, TransitionError, allowed_actions
from yunbao.workorders.models import (
    Photo,
    PhotoKind,
    Source,
    Status,
    TimelineEntry,
    WorkOrder,
)
from yunbao.workorders.transitions import TRANSITIONS

log = logging.getLogger(__name__)

# Who may use the console (see the module's docstring for why not supervisors).
DESK_ROLES = frozenset({Role.DISPATCHER, Role.MANAGER, Role.ADMIN})
# What waits for the desk: to accept (or reject, merge), and to dispatch.
QUEUE_STATUSES = (Status.SUBMITTED, Status.ACCEPTED)
# A queue longer than this is a backlog to filter, not to scroll; the page says how many.
QUEUE_LIMIT = 300
POLL_SECONDS = 5
# One request should not hold the database for minutes; the page sends a screenful at most.
BULK_LIMIT = 100
# The moves the panel offers; "suggested" is accept (if needed) + dispatch as the machine said.
PANEL_ACTIONS = ("accept", "reject", "merge", "dispatch", "assign", "suggested")
BULK_ACTIONS = ("accept", "reject", "suggested")
# The age filter's choices in hours (the JSON accepts any whole number of hours).
AGE_CHOICES = (1, 4, 24, 72, 168)
# Orders in these statuses can no longer be merged into, so they are no duplicate to offer.
DEAD = (Status.MERGED, Status.REJECTED, Status.VOIDED)
IN_HAND = (Status.DISPATCHED, Status.IN_PROGRESS)
# The category filter's value for orders without a category ("unrecognised").
NO_CATEGORY = "none"
SUMMARY_LENGTH = 80


# --- Access ------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind login_required)."""
    assert isinstance(request.user, User)
    return request.user


def _is_admin(user: User | AnonymousUser) -> bool:
    return bool(getattr(user, "is_superuser", False)) or Role.ADMIN in roles_of(user)


def desk_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Dispatchers, managers and administrators only; others 403, anonymous → login."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles_of(request.user) & DESK_ROLES:
            log.info("console refused to %s", request.user)
            return render(request, "dispatch/console_forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _visible_order(user: User, number: str) -> WorkOrder:
    return get_object_or_404(
        WorkOrder.objects.visible_to(user).select_related(
            "category", "scene", "grid", "unit", "worker__profile", "duplicate_of"
        ),
        number=number,
    )


# --- Filters -----------------------------------------------------------------------------


def areas_within(user: User) -> QuerySet[Area]:
    """The areas a person works in and everything below them (all of them for an admin)."""
    if _is_admin(user):
        return Area.objects.all()
    condition = Q(pk__in=[])
    for area in areas_of(user):
        condition |= Q(path__startswith=area.path)
    return Area.objects.filter(condition)


class QueueFilter(forms.Form):
    """The queue's filters, as the page's selects and `queue.json`'s parameters send them."""

    area = forms.ModelChoiceField(
        queryset=Area.objects.none(), required=False, to_field_name="code"
    )
    scene = forms.ModelChoiceField(
        queryset=Scene.objects.all(), required=False, to_field_name="code"
    )
    category = forms.CharField(required=False, max_length=16)
    urgency = forms.ChoiceField(choices=[("", ""), *Urgency.choices], required=False)
    source = forms.ChoiceField(choices=[("", ""), *Source.choices], required=False)
    age = forms.IntegerField(required=False, min_value=1, max_value=24 * 366)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        area = self.fields["area"]
        assert isinstance(area, forms.ModelChoiceField)
        area.queryset = areas_within(user)

    def clean_category(self) -> Category | str | None:
        code = (self.cleaned_data.get("category") or "").strip()
        if not code:
            return None
        if code == NO_CATEGORY:
            return NO_CATEGORY
        category = Category.objects.filter(code=code).first()
        if category is None:
            raise forms.ValidationError(_("Unknown category."))
        return category

    def apply(self, orders: QuerySet[WorkOrder]) -> QuerySet[WorkOrder]:
        d = self.cleaned_data
        if d.get("area") is not None:
            orders = orders.filter(area_path__startswith=d["area"].path)
        if d.get("scene") is not None:
            orders = orders.filter(scene=d["scene"])
        if d.get("category") == NO_CATEGORY:
            orders = orders.filter(category__isnull=True)
        elif d.get("category") is not None:
            orders = orders.filter(category=d["category"])
        if d.get("urgency"):
            orders = orders.filter(urgency=d["urgency"])
        if d.get("source"):
            orders = orders.filter(source=d["source"])
        if d.get("age"):
            orders = orders.filter(created_at__gte=timezone.now() - timedelta(hours=d["age"]))
        return orders


def _filters(request: HttpRequest, user: User) -> QueueFilter:
    """The request's filters; bad ones on the page fall back to none (the JSON says 400)."""
    filters = QueueFilter(request.GET, user=user)
    if not filters.is_valid():
        filters = QueueFilter({}, user=user)
        filters.is_valid()
    return filters


# --- The queue ---------------------------------------------------------------------------


def _summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


def fallbacks_of(decision: DispatchDecision) -> list[str]:
    """Why the machine did not act alone, in the reader's language where it can say."""
    texts = []
    for item in (decision.reasons or {}).get("fallbacks", []):
        if not isinstance(item, dict):
            texts.append(str(item))
            continue
        code = item.get("code", "")
        # Codes the policy knows are translated again for the reader; others (a refused
        # automatic move) keep the text stored with them.
        if code in FALLBACK_TEXTS:
            texts.append(fallback_text(code, item))
        else:
            texts.append(str(item.get("text") or code))
    return texts


def _suggestion(decision: DispatchDecision | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    return {
        "category": str(decision.category) if decision.category else None,
        "confidence": round(decision.confidence, 2),
        "unit": str(decision.unit) if decision.unit else None,
        "worker": display_name(decision.worker) if decision.worker else None,
        "automatic": decision.automatic,
        "fallbacks": fallbacks_of(decision),
    }


def _returns(order_ids: Iterable[int]) -> dict[int, TimelineEntry]:
    """The latest 回退 row of each order.

    An accepted order with any return row is one a unit sent back: dispatch is the only way
    out of "accepted" into a unit's hands, and only a return (to the dispatcher) comes back.
    """
    ids = list(order_ids)
    if not ids:
        return {}
    rows = (
        TimelineEntry.objects.filter(order_id__in=ids, action="return")
        .select_related("actor__profile__unit")
        .order_by("at", "pk")
    )
    return {row.order_id: row for row in rows}


def _returning_unit(entry: TimelineEntry | None) -> Unit | None:
    """The unit of whoever returned the order (their profile's unit)."""
    actor = entry.actor if entry is not None else None
    profile = getattr(actor, "profile", None) if actor is not None else None
    return profile.unit if profile is not None else None


def _returned(entry: TimelineEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    actor = entry.actor
    unit = _returning_unit(entry)
    return {
        "reason": entry.note,
        "by": display_name(actor) if actor is not None else "",
        "unit": str(unit) if unit is not None else "",
        "at": entry.at.isoformat(),
    }


def _counts(queryset: QuerySet[Any], key: str) -> dict[int, int]:
    # order_by(): no Meta ordering in the GROUP BY.
    return dict(queryset.order_by().values(key).annotate(n=Count("pk")).values_list(key, "n"))


def _duplicate_counts(user: User, order_ids: list[int]) -> dict[int, int]:
    """Per order, its likely originals the user may see and may still merge into."""
    candidates = WorkOrder.objects.visible_to(user).exclude(status__in=DEAD)
    return _counts(
        DuplicateSuggestion.objects.filter(order_id__in=order_ids, candidate__in=candidates),
        "order_id",
    )


def queue_orders(user: User, filters: QueueFilter) -> tuple[list[WorkOrder], int]:
    """The filtered queue, urgent first then newest, and how many there are in all."""
    waiting = filters.apply(WorkOrder.objects.visible_to(user).filter(status__in=QUEUE_STATUSES))
    urgent_first = Case(
        When(urgency=Urgency.URGENT, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    orders = list(
        waiting.select_related("category", "scene", "grid").order_by(
            urgent_first, "-created_at", "-pk"
        )[:QUEUE_LIMIT]
    )
    return orders, waiting.count()


def build_queue(user: User, filters: QueueFilter) -> dict[str, Any]:
    """Everything the page draws: the queue's rows, the workers and vehicles on the map."""
    orders, total = queue_orders(user, filters)
    ids = [o.pk for o in orders]
    decisions = {
        d.order_id: d
        for d in DispatchDecision.objects.filter(order_id__in=ids).select_related(
            "category", "unit", "worker__profile"
        )
    }
    duplicates = _duplicate_counts(user, ids)
    me_toos = _counts(MeToo.objects.filter(order_id__in=ids), "order_id")
    photos = _counts(Photo.objects.filter(order_id__in=ids, kind=PhotoKind.BEFORE), "order_id")
    returns = _returns(o.pk for o in orders if o.status == Status.ACCEPTED)
    rows = []
    for o in orders:
        due = o.current_due
        rows.append(
            {
                "number": o.number,
                "lat": round(o.lat, 6),
                "lon": round(o.lon, 6),
                "status": o.status,
                "status_label": o.get_status_display(),
                "urgent": o.urgency == Urgency.URGENT,
                "urgency_label": o.get_urgency_display(),
                "source_label": o.get_source_display(),
                "category": str(o.category) if o.category else None,
                "scene": o.scene.display_name if o.scene else None,
                "area": o.grid.display_name if o.grid else None,
                "summary": _summary(o.description),
                "created": o.created_at.isoformat(),
                "due": due.isoformat() if due else None,
                # Time-limit badge: fixed moments only, the browser works out the level.
                "sla": clock_json(o),
                "returned": _returned(returns.get(o.pk)),
                "suggestion": _suggestion(decisions.get(o.pk)),
                "duplicates": duplicates.get(o.pk, 0),
                "me_too": me_toos.get(o.pk, 0),
                "photos": photos.get(o.pk, 0),
                "panel": reverse("dispatch-console-order", args=[o.number]),
                "page": reverse("order-detail", args=[o.number]),
            }
        )
    return {
        "orders": rows,
        "total": total,
        "limit": QUEUE_LIMIT,
        "workers": workers_for(user),
        "vehicles": vehicles_for(user),
    }


def version_of(payload: dict[str, Any]) -> str:
    """A digest of what the page draws: equal versions, equal pages."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _etag_matches(header: str, version: str) -> bool:
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return version in tags or "*" in tags


# --- Workers on the map ------------------------------------------------------------------


def _prefixes(path: str) -> list[str]:
    """ "/1/3/7/" → ["/1/", "/1/3/", "/1/3/7/"]: the paths of an area and its ancestors."""
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def units_for(user: User) -> QuerySet[Unit]:
    """Active units serving in the user's areas: inside them, or over an area holding them."""
    units = Unit.objects.filter(active=True)
    if _is_admin(user):
        return units.order_by("code")
    condition = Q(pk__in=[])
    for area in areas_of(user):
        condition |= Q(areas__path__startswith=area.path) | Q(areas__path__in=_prefixes(area.path))
    return units.filter(condition).distinct().order_by("code")


def workers_for(user: User) -> list[dict[str, Any]]:
    """Field workers on duty now in units of the user's areas, where they were last seen."""
    at = timezone.now()
    people: dict[int, tuple[User, Unit]] = {}
    for unit in units_for(user):
        for person in on_duty(unit, None, at):
            people.setdefault(person.pk, (person, unit))
    if not people:
        return []
    # Their badges' last fixes, however old (the page greys stale ones, with their age);
    # the others at their area's centre, as the worker ranking places them.
    fixes = latest_for_users(people)
    positions = latest_positions(
        person for person, _unit in people.values() if fixes.get(person.pk) is None
    )
    tasks = _counts(
        WorkOrder.objects.visible_to(user).filter(worker_id__in=people, status__in=IN_HAND),
        "worker_id",
    )
    rows = []
    for person, unit in people.values():
        fix = fixes.get(person.pk)
        position = (fix.lat, fix.lon) if fix is not None else positions.get(person.pk)
        if position is None:
            continue  # nowhere to draw them
        rows.append(
            {
                "id": person.pk,
                "name": display_name(person),
                "unit": str(unit),
                "lat": round(position[0], 6),
                "lon": round(position[1], 6),
                "tasks": tasks.get(person.pk, 0),
                # The fix's time (None: the area's centre) and the badge's track.
                "seen": fix.fixed_at.isoformat() if fix is not None else None,
                "track": reverse("fleet:track", args=[fix.device_id]) if fix else None,
            }
        )
    rows.sort(key=lambda r: (r["unit"], r["name"], r["id"]))
    return rows


def vehicles_for(user: User) -> list[dict[str, Any]]:
    """The vehicles the user may see (`fleet.devices.visible_devices`) where they last
    reported, however long ago (the page greys stale ones)."""
    return live_rows(visible_devices(user).filter(kind=DeviceKind.VEHICLE, active=True))


# --- The panel's forms and moves ---------------------------------------------------------


def _workers() -> QuerySet[User]:
    return User.objects.filter(groups__name=Role.WORKER, is_active=True)


class AcceptForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.all())
    urgency = forms.ChoiceField(choices=Urgency.choices, required=False)
    note = forms.CharField(required=False, max_length=2000)


class RejectForm(forms.Form):
    # Not required here: the transition table requires the reason and says so itself.
    note = forms.CharField(required=False, max_length=2000)


class MergeForm(forms.Form):
    into = forms.CharField(max_length=24)
    note = forms.CharField(required=False, max_length=2000)


class DispatchForm(forms.Form):
    unit = forms.ModelChoiceField(queryset=Unit.objects.filter(active=True))
    worker = forms.ModelChoiceField(queryset=_workers(), required=False)
    note = forms.CharField(required=False, max_length=2000)


class AssignForm(forms.Form):
    worker = forms.ModelChoiceField(queryset=_workers())
    note = forms.CharField(required=False, max_length=2000)


class SuggestedForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)


FORMS: dict[str, type[forms.Form]] = {
    "accept": AcceptForm,
    "reject": RejectForm,
    "merge": MergeForm,
    "dispatch": DispatchForm,
    "assign": AssignForm,
    "suggested": SuggestedForm,
}


def _decision(order: WorkOrder) -> DispatchDecision | None:
    return (
        DispatchDecision.objects.select_related("category", "unit", "worker__profile", "rule")
        .filter(order_id=order.pk)
        .first()
    )


def accept(
    order: WorkOrder,
    *,
    actor: User,
    category: Category | None,
    urgency: str | None = None,
    note: str = "",
) -> None:
    """Accept, keeping a correction when the category differs from the machine's."""
    decision = _decision(order)
    with transaction.atomic():
        actions.accept(order, actor=actor, category=category, urgency=urgency, note=note)
        if decision is not None and category is not None and decision.category_id != category.pk:
            record_correction(order, decision.category, category, actor)


def _returned_by_suggested_unit(order: WorkOrder, decision: DispatchDecision | None) -> bool:
    """Whether the unit the machine suggests is the one that sent the order back."""
    if decision is None or decision.unit_id is None or order.status != Status.ACCEPTED:
        return False
    unit = _returning_unit(_returns([order.pk]).get(order.pk))
    return unit is not None and unit.pk == decision.unit_id


def dispatch_as_suggested(order: WorkOrder, *, actor: User, note: str = "") -> None:
    """Accept (when still submitted) and dispatch to the machine's unit and worker, or
    neither: a refused dispatch also undoes the accept, so nothing is half done."""
    decision = _decision(order)
    if decision is None or decision.unit is None:
        raise InvalidInput(_("The machine has no unit to suggest for this order."))
    if _returned_by_suggested_unit(order, decision):
        # Following the suggestion would send it straight back to the unit that refused it.
        raise InvalidInput(
            _("%(unit)s returned this order; choose the unit yourself.") % {"unit": decision.unit}
        )
    with transaction.atomic():
        if order.status == Status.SUBMITTED:
            actions.accept(order, actor=actor, category=decision.category, note=note)
        actions.dispatch(order, actor=actor, unit=decision.unit, worker=decision.worker, note=note)


def merge_into(order: WorkOrder, *, actor: User, number: str, note: str = "") -> None:
    # The target is looked up among the orders the dispatcher may see, like any read.
    target = WorkOrder.objects.visible_to(actor).filter(number=number.strip()).first()
    if target is None:
        raise InvalidInput(_("No order with that number."))
    actions.merge(order, actor=actor, into=target, note=note)


def perform(action: str, order: WorkOrder, data: dict[str, Any], actor: User) -> str:
    """Make one console move with cleaned form data; → what to tell the dispatcher."""
    note = data.get("note") or ""
    match action:
        case "accept":
            accept(
                order,
                actor=actor,
                category=data.get("category"),
                urgency=data.get("urgency") or None,
                note=note,
            )
        case "reject":
            actions.reject(order, actor=actor, note=note)
        case "merge":
            merge_into(order, actor=actor, number=data["into"], note=note)
        case "dispatch":
            actions.dispatch(
                order, actor=actor, unit=data["unit"], worker=data.get("worker"), note=note
            )
        case "assign":
            actions.assign(order, actor=actor, worker=data["worker"], note=note)
        case "suggested":
            dispatch_as_suggested(order, actor=actor, note=note)
            return _("Dispatched as suggested.")
        case _:
            raise InvalidInput(_("Unknown action “%(action)s”.") % {"action": action})
    return str(TRANSITIONS[action].label)


def _form_errors(form: forms.Form) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


# --- The panel ---------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _first_photos(order_ids: list[int]) -> dict[int, Photo]:
    photos: dict[int, Photo] = {}
    rows = Photo.objects.filter(order_id__in=order_ids, kind=PhotoKind.BEFORE).order_by(
        "order_id", "created_at", "pk"
    )
    for photo in rows:
        photos.setdefault(photo.order_id, photo)
    return photos


def _category_groups(current: Category | None) -> list[dict[str, Any]]:
    """Active categories by major class, for the accept form's select."""
    categories = list(Category.objects.filter(active=True).order_by("kind", "major_code", "code"))
    if current is not None and all(c.pk != current.pk for c in categories):
        categories.insert(0, current)
    groups: list[dict[str, Any]] = []
    for category in categories:
        label = f"{category.get_kind_display()} {category.major_code} {category.major_name}"
        if not groups or groups[-1]["label"] != label:
            groups.append({"label": label, "categories": []})
        groups[-1]["categories"].append(category)
    return groups


def _unit_choices(order: WorkOrder) -> dict[str, Any]:
    """Units serving the order's place first, then the others, and each unit's workers."""
    units = list(Unit.objects.filter(active=True).prefetch_related("areas").order_by("code"))
    path = order.area_path
    serving = [u for u in units if any(path.startswith(a.path) for a in u.areas.all())]
    others = [u for u in units if u not in serving]
    workers = _workers().filter(profile__unit__in=units).select_related("profile")
    by_unit: dict[int, list[User]] = {}
    for worker in workers.order_by("profile__display_name", "username"):
        by_unit.setdefault(worker.profile.unit_id or 0, []).append(worker)
    return {
        "serving": serving,
        "others": others,
        "workers": [
            {"unit": u, "people": by_unit[u.pk]} for u in serving + others if u.pk in by_unit
        ],
    }


def _ranking(decision: DispatchDecision | None) -> list[dict[str, Any]]:
    if decision is None:
        return []
    assignment = (decision.reasons or {}).get("assignment") or {}
    return [r for r in assignment.get("ranking", []) if isinstance(r, dict)]


def _predictions(decision: DispatchDecision | None) -> list[dict[str, Any]]:
    """The classifier's top guesses, with names."""
    if decision is None:
        return []
    top = ((decision.reasons or {}).get("prediction") or {}).get("top") or []
    codes = [row[0] for row in top if isinstance(row, list | tuple) and len(row) == 2]
    names = {c.code: c for c in Category.objects.filter(code__in=codes)}
    return [
        {"category": names.get(code) or code, "probability": probability}
        for code, probability in top
        if code in codes
    ]


def _values(
    order: WorkOrder,
    decision: DispatchDecision | None,
    bound: forms.Form | None,
    action: str,
    *,
    refused_by_suggested: bool = False,
) -> dict[str, dict[str, Any]]:
    """What each form shows: the machine's suggestion (unless that unit returned the order),
    or what was just posted."""
    suggested = decision if decision is not None and not refused_by_suggested else None
    values: dict[str, dict[str, Any]] = {
        "accept": {
            "category": (decision.category_id if decision else None) or order.category_id,
            "urgency": order.urgency,
        },
        "dispatch": {
            "unit": (suggested.unit_id if suggested else None) or order.unit_id,
            "worker": suggested.worker_id if suggested else None,
            "note": "",
        },
        "assign": {"worker": order.worker_id},
        "reject": {"note": ""},
        "merge": {"into": ""},
    }
    if bound is not None and action in values:
        for name in values[action]:
            raw = bound.data.get(name, "")
            values[action][name] = raw if name in ("note", "into", "urgency") else _int(raw)
    return values


def panel_context(
    user: User,
    order: WorkOrder,
    *,
    action: str = "",
    bound: forms.Form | None = None,
    errors: list[str] | None = None,
    done: str = "",
) -> dict[str, Any]:
    visible = WorkOrder.objects.visible_to(user)
    decision = _decision(order)
    suggestions = list(
        DuplicateSuggestion.objects.filter(order=order, candidate__in=visible)
        .select_related("candidate__category", "candidate__grid")
        .order_by("-score", "pk")
    )
    repeats = list(
        DuplicateSuggestion.objects.filter(
            candidate=order, order__in=visible.filter(status__in=QUEUE_STATUSES)
        )
        .select_related("order")
        .order_by("-score", "pk")
    )
    photos = list(order.photos.filter(kind=PhotoKind.BEFORE))
    first_photos = _first_photos([s.candidate_id for s in suggestions])
    allowed = {t.action for t in allowed_actions(order, user)}
    returned = _returns([order.pk]).get(order.pk) if order.status == Status.ACCEPTED else None
    returning_unit = _returning_unit(returned)
    refused_by_suggested = (
        decision is not None
        and returning_unit is not None
        and returning_unit.pk == decision.unit_id
    )
    due = order.current_due
    # Dispatch as suggested: an accepted order may be dispatched; a submitted one is accepted
    # first, by the same desk roles.
    may_suggest = (
        decision is not None
        and decision.unit_id is not None
        and not refused_by_suggested
        and bool(allowed & {"accept", "dispatch"})
    )
    duplicates: list[dict[str, Any]] = [
        {
            "suggestion": s,
            "candidate": s.candidate,
            "photo": first_photos.get(s.candidate_id),
            "mergeable": "merge" in allowed and s.candidate.status not in DEAD,
        }
        for s in suggestions
    ]
    top = next((d for d in duplicates if d["mergeable"]), None)
    return {
        "order": order,
        "areas": order.grid.ancestors() if order.grid else [],
        "photos": photos,
        "decision": decision,
        "fallbacks": fallbacks_of(decision) if decision else [],
        "ranking": _ranking(decision),
        "predictions": _predictions(decision),
        "reasons": (decision.reasons or {}) if decision else {},
        "duplicates": duplicates,
        "top_duplicate": top["candidate"].pk if top else None,
        "repeats": repeats,
        "me_toos": order.me_toos.count(),
        "returned": _returned(returned),
        "returned_entry": returned,
        "due": due,
        "overdue": due is not None and due < timezone.now(),
        "allowed": allowed,
        "may_suggest": may_suggest,
        "category_groups": _category_groups(order.category) if "accept" in allowed else [],
        "units": _unit_choices(order) if "dispatch" in allowed else None,
        "assignable": (
            list(
                _workers()
                .filter(profile__unit_id=order.unit_id)
                .select_related("profile")
                .order_by("profile__display_name", "username")
            )
            if "assign" in allowed and order.unit_id
            else []
        ),
        "urgencies": Urgency.choices,
        "labels": {
            name: TRANSITIONS[name].label
            for name in ("accept", "reject", "merge", "dispatch", "assign")
        },
        "refused_by_suggested": refused_by_suggested,
        "v": _values(order, decision, bound, action, refused_by_suggested=refused_by_suggested),
        "action": action,
        "errors": errors or [],
        "done": done,
    }


# --- Views -------------------------------------------------------------------------------


def _area_options(user: User) -> list[tuple[str, str]]:
    """(code, indented name) of the areas above grid level a person may filter by."""
    areas = list(areas_within(user).exclude(level=Level.GRID).order_by("path"))
    top = min((a.path.count("/") for a in areas), default=0)
    return [(a.code, "\u2003" * (a.path.count("/") - top) + a.display_name) for a in areas]


def _area_shapes(user: User) -> dict[str, Any]:
    """The outlines drawn under the markers: the person's areas (the district for admins)."""
    areas = (
        list(Area.objects.filter(level=Level.DISTRICT)) if _is_admin(user) else list(areas_of(user))
    )
    return {"type": "FeatureCollection", "features": [a.geojson_feature() for a in areas]}


@desk_only
@require_GET
def console(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = _filters(request, user)
    payload = build_queue(user, filters)
    initial = {**payload, "version": version_of(payload), "now": timezone.now().isoformat()}
    return render(
        request,
        "dispatch/console.html",
        {
            "raw": {name: request.GET.get(name, "") for name in filters.fields}
            if filters.data
            else {},
            "area_options": _area_options(user),
            "scenes": Scene.objects.order_by("sort", "code"),
            "categories": Category.objects.filter(active=True).order_by("code"),
            "urgencies": Urgency.choices,
            "sources": Source.choices,
            "ages": AGE_CHOICES,
            "initial": initial,
            "area_shapes": _area_shapes(user),
            "poll_seconds": POLL_SECONDS,
            "stale_after": int(position_max_age().total_seconds()),
            "tile_url": settings.YUNBAO_MAP_TILE_URL,
            "time_zone": settings.TIME_ZONE,
        },
    )


@desk_only
@require_GET
def queue_json(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    filters = QueueFilter(request.GET, user=user)
    if not filters.is_valid():
        return JsonResponse({"errors": filters.errors.get_json_data()}, status=400)
    payload = build_queue(user, filters)
    version = version_of(payload)
    response: HttpResponse
    if _etag_matches(request.headers.get("If-None-Match", ""), version):
        response = HttpResponse(status=304)
    else:
        response = JsonResponse(
            {**payload, "version": version, "now": timezone.now().isoformat()},
            encoder=DjangoJSONEncoder,
            json_dumps_params={"ensure_ascii": False},
        )
    response["ETag"] = f'"{version}"'
    # Always revalidate: the queue is personal and changes any second.
    response["Cache-Control"] = "private, no-cache"
    return response


@desk_only
@require_GET
def order_panel(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    order = _visible_order(user, number)
    return render(request, "dispatch/console_panel.html", panel_context(user, order))


@desk_only
@require_POST
def order_action(request: HttpRequest, number: str, action: str) -> HttpResponse:
    """One move from the panel; answers the refreshed panel (400 with the reason if refused)."""
    user = _user(request)
    order = _visible_order(user, number)
    if action not in PANEL_ACTIONS:
        return HttpResponse(status=404)
    form = FORMS[action](request.POST)
    errors: list[str] = []
    done = ""
    if not form.is_valid():
        errors = _form_errors(form)
    else:
        try:
            done = perform(action, order, form.cleaned_data, user)
        except TransitionError as exc:
            log.info("console %s on %s by %s refused: %s", action, number, user, exc)
            errors = [str(exc)]
    # Re-read: a refused move may have left the in-memory order ahead of the database.
    order = _visible_order(user, number)
    context = panel_context(
        user,
        order,
        action=action,
        bound=form if errors else None,
        errors=errors,
        done=done,
    )
    return render(request, "dispatch/console_panel.html", context, status=400 if errors else 200)


@desk_only
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """The same move on many orders, each on its own: one refusal stops none of the others."""
    user = _user(request)
    action = request.POST.get("action", "")
    note = request.POST.get("note", "").strip()
    numbers = list(dict.fromkeys(n.strip() for n in request.POST.getlist("numbers") if n.strip()))
    if action not in BULK_ACTIONS:
        message = _("Unknown action “%(action)s”.") % {"action": action}
        return JsonResponse({"error": message}, status=400)
    if not numbers:
        return JsonResponse({"error": _("Select at least one order.")}, status=400)
    if len(numbers) > BULK_LIMIT:
        return JsonResponse(
            {"error": _("At most %(n)d orders at once.") % {"n": BULK_LIMIT}}, status=400
        )
    if action == "reject" and not note:
        message = _("A reason is required to %(action)s.") % {"action": TRANSITIONS["reject"].label}
        return JsonResponse({"error": message}, status=400)
    orders = {
        o.number: o
        for o in WorkOrder.objects.visible_to(user)
        .select_related("category")
        .filter(number__in=numbers)
    }
    results = []
    for number in numbers:
        order = orders.get(number)
        if order is None:
            results.append(
                {"number": number, "ok": False, "message": _("No order with that number.")}
            )
            continue
        try:
            if action == "accept":
                decision = _decision(order)
                # As the machine recognised it; no correction, the dispatcher agreed.
                category = decision.category if decision and decision.category else None
                actions.accept(order, actor=user, category=category)
                message = str(TRANSITIONS["accept"].label)
            elif action == "reject":
                actions.reject(order, actor=user, note=note)
                message = str(TRANSITIONS["reject"].label)
            else:
                dispatch_as_suggested(order, actor=user)
                message = _("Dispatched as suggested.")
        except TransitionError as exc:
            log.info("console bulk %s on %s by %s refused: %s", action, number, user, exc)
            results.append({"number": number, "ok": False, "message": str(exc)})
        else:
            results.append({"number": number, "ok": True, "message": message})
    succeeded = sum(1 for r in results if r["ok"])
    return JsonResponse(
        {"results": results, "ok": succeeded, "failed": len(results) - succeeded},
        json_dumps_params={"ensure_ascii": False},
    )
