"""Work orders and their timelines as Open311 service requests and updates.

Everything public and nothing else: no reporter name, phone, account, device or e-mail, no
staff names. A page of up to 1000 requests costs two queries whatever its size: the orders
as plain rows (`values()`, with the unit, category and duplicate's number joined, and the
latest public note and first photo as subqueries), then the names of every area on their
paths.

Mappings, decided here once:

- status: closed, rejected, merged and voided orders are `closed`; every other is `open`.
- status_notes: for a merged order "Duplicate of …"; otherwise the latest note of a move
  whose note is written for the reporter (`PUBLIC_NOTE_ACTIONS`: a rejection's or void's
  reason, the handling note, the check, a suspension's reason). Dispatch notes and the
  machine's reasons are internal and never shown.
- expected_datetime: when the order is expected done: the check deadline once handled,
  else the handling deadline (known once dispatched); empty before that.
- agency_responsible: the responsible unit; address: the names of the order's areas from
  the district down; address_id: its grid's code.
- media_url: the first before-photo (stored without EXIF by intake), as an absolute URL.
- Free text (descriptions, notes) has mainland mobile numbers and the reporter's own phone
  masked: reporters type them in despite the form, and GETs are public.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from yunbao.geo.models import Area
from yunbao.open311.serializers import w3c_writer
from yunbao.workorders.models import (
    OPEN_STATUSES,
    Photo,
    PhotoKind,
    Status,
    TimelineEntry,
    WorkOrder,
)

# Moves whose note is written for the reporter (see the module docstring).
PUBLIC_NOTE_ACTIONS = ("reject", "merge", "finish", "verify", "void", "suspend", "resume")
# Moves shown as updates: the ones intake's tracking page tells the reporter about.
PUBLIC_MOVES = (
    "submit",
    "accept",
    "reject",
    "merge",
    "dispatch",
    "start",
    "finish",
    "verify",
    "rework",
    "suspend",
    "resume",
    "void",
)
MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")

ORDER_FIELDS = (
    "pk",
    "number",
    "status",
    "description",
    "created_at",
    "updated_at",
    "handle_due",
    "check_due",
    "lat",
    "lon",
    "area_path",
    "grid_id",
    "reporter_phone",  # read only to mask it in the text, never shown
    "category__code",
    "category__name",
    "category__name_en",
    "unit__name",
    "unit__name_en",
    "duplicate_of__number",
)


def open_or_closed(status: str) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


def mask(text: str, phone: str = "") -> str:
    """`text` with mobile numbers (138****5678) and the reporter's own phone masked."""
    text = MOBILE_RE.sub(r"\1****\2", text)
    if phone and len(phone) >= 5 and phone in text:
        text = text.replace(phone, "*" * len(phone))
    return text


def media_url(name: str | None) -> str | None:
    """The absolute URL of a stored file (storage URLs may be relative to this site)."""
    if not name:
        return None
    url = default_storage.url(name)
    if url.startswith("/"):
        return settings.YUNBAO_PUBLIC_URL + url
    return url


def _english() -> bool:
    return (get_language() or "").startswith("en")


def _pick(row: dict[str, Any], field: str, english: bool) -> str | None:
    name = row[f"{field}__name"]
    if name is None:
        return None
    return str((english and row[f"{field}__name_en"]) or name)


def public_notes() -> Subquery:
    return Subquery(
        TimelineEntry.objects.filter(order=OuterRef("pk"), action__in=PUBLIC_NOTE_ACTIONS)
        .exclude(note="")
        .order_by("-at", "-id")
        .values("note")[:1]
    )


def first_photos() -> Subquery:
    return Subquery(
        Photo.objects.filter(order=OuterRef("pk"), kind=PhotoKind.BEFORE)
        .order_by("created_at", "id")
        .values("image")[:1]
    )


def order_rows(orders: QuerySet[WorkOrder]) -> list[dict[str, Any]]:
    """The orders as plain rows with everything the records need (one query)."""
    return list(
        orders.values(*ORDER_FIELDS).annotate(public_note=public_notes(), photo=first_photos())
    )


def _area_ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


def area_names(paths: Iterable[str]) -> dict[int, tuple[str, str]]:
    """{area id: (display name, code)} for every area on these paths (one query)."""
    ids = {i for path in paths for i in _area_ids(path)}
    english = _english()
    return {
        pk: (str((english and name_en) or name), code)
        for pk, name, name_en, code in Area.objects.filter(pk__in=ids).values_list(
            "pk", "name", "name_en", "code"
        )
    }


def _expected(row: dict[str, Any]) -> datetime | None:
    if row["status"] == Status.HANDLED:
        return row["check_due"]
    return row["handle_due"]


def request_records(orders: QuerySet[WorkOrder]) -> list[dict[str, Any]]:
    """Open311 service requests for these orders, in the queryset's order."""
    rows = order_rows(orders)
    names = area_names(row["area_path"] for row in rows)
    english = _english()
    w3c = w3c_writer()
    records = []
    for row in rows:
        phone = row["reporter_phone"]
        if row["duplicate_of__number"]:
            notes: str | None = _("Duplicate of %(number)s.") % {
                "number": row["duplicate_of__number"]
            }
        elif row["public_note"]:
            notes = mask(row["public_note"], phone)
        else:
            notes = None
        path = [names[i] for i in _area_ids(row["area_path"]) if i in names]
        grid = names.get(row["grid_id"]) if row["grid_id"] else None
        records.append(
            {
                "service_request_id": row["number"],
                "status": open_or_closed(row["status"]),
                "status_notes": notes,
                "service_name": _pick(row, "category", english),
                "service_code": row["category__code"],
                "description": mask(row["description"], phone) or None,
                "agency_responsible": _pick(row, "unit", english),
                "service_notice": None,
                "requested_datetime": w3c(row["created_at"]),
                "updated_datetime": w3c(row["updated_at"]),
                "expected_datetime": w3c(_expected(row)),
                "address": " ".join(name for name, _code in path) or None,
                "address_id": grid[1] if grid else None,
                "zipcode": None,
                "lat": row["lat"],
                "long": row["lon"],
                "media_url": media_url(row["photo"]),
            }
        )
    return records


def entry_photos() -> Subquery:
    return Subquery(Photo.objects.filter(entry=OuterRef("pk")).order_by("id").values("image")[:1])


def timeline_updates(entries: QuerySet[TimelineEntry]) -> list[dict[str, Any]]:
    """Timeline rows as updates: the move's public note, or else its name (one query)."""
    updates = []
    rows = entries.values(
        "pk", "action", "to_status", "note", "at", "order__number", "order__reporter_phone"
    ).annotate(photo=entry_photos())
    labels: dict[str, str] = {}
    w3c = w3c_writer()
    for row in rows:
        action = row["action"]
        if action not in labels:
            labels[action] = str(TimelineEntry(action=action).action_label)
        note = row["note"] if action in PUBLIC_NOTE_ACTIONS else ""
        updates.append(
            {
                "update_id": str(row["pk"]),
                "service_request_id": row["order__number"],
                "status": open_or_closed(row["to_status"]),
                "updated_datetime": w3c(row["at"]),
                "description": mask(note, row["order__reporter_phone"]) or labels[action],
                "media_url": media_url(row["photo"]),
            }
        )
    return updates
