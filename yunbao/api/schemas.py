"""Shapes of the API's input and output (pydantic, through django-ninja), and the input
types every route uses.

Input text never carries a NUL character or a lone surrogate (PostgreSQL cannot store
them; refused here with a 422 rather than failing in the database), and each kind of
identifier has its own pattern, so what the schema allows is what the routes accept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field

# Text a person wrote (a note, a comment, a name).
NO_NUL = r"^[^\x00]*$"
# A note that must say something: at least one character that is not white space.
SAYS_SOMETHING = r"^[^\x00]*[^\x00\s][^\x00]*$"
# Order numbers ("YB20250101000042"), category, unit, area and grid codes.
CODE = r"^[A-Za-z0-9_.-]{1,64}$"
# User names as Django allows them (letters, digits and @.+-_).
USERNAME = r"^[\w.@+-]{1,150}$"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_-]{8,64}$"

Text = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=SAYS_SOMETHING)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE)]
Username = Annotated[str, Field(min_length=1, max_length=150, pattern=USERNAME)]

# Dates a person may sensibly give (an extension's end): with a time zone, within reach.
EARLIEST = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
LATEST = datetime.fromisoformat("2100-01-01T00:00:00+00:00")


def _within_reach(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 2000 and 2100")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_within_reach)]


# --- Output --------------------------------------------------------------------------------


class Ref(Schema):
    """Something known by its code and shown by its name (category, unit, area)."""

    code: str
    name: str


class PersonOut(Schema):
    username: str
    name: str


class ContactOut(Schema):
    """The reporter's nickname and phone: shown to staff only."""

    name: str
    phone: str


class SlaOut(Schema):
    level: str = Field(description="ok, due_soon, overdue or paused")
    stage: str
    due: datetime
    warn_at: datetime | None
    remaining_seconds: int = Field(description="Negative when overdue.")


class OrderOut(Schema):
    number: str
    status: str
    status_label: str
    source: str
    urgency: str
    category: Ref | None
    description: str
    address: str
    lat: float
    lon: float
    grid: Ref | None
    unit: Ref | None
    worker: PersonOut | None = Field(description="Staff only.")
    reporter: ContactOut | None = Field(description="Staff only.")
    duplicate_of: str | None
    rework_count: int
    rating: int | None
    created_at: datetime
    accepted_at: datetime | None
    dispatched_at: datetime | None
    started_at: datetime | None
    arrived_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    sla: SlaOut | None


class PhotoOut(Schema):
    id: int
    kind: str = Field(description="before or after")
    url: str
    thumbnail_url: str | None
    width: int
    height: int
    taken_at: datetime | None
    lat: float | None
    lon: float | None
    uploaded_at: datetime
    entry: int | None = Field(description="The timeline row of the move it proves, if any.")


class TimelineOut(Schema):
    id: int
    action: str
    label: str
    from_status: str
    to_status: str
    role: str
    actor: PersonOut | None = Field(description="Staff only.")
    note: str
    at: datetime
    on_time: bool | None
    data: dict[str, Any] = Field(description="Details of the move (staff only).")


class RequestOut(Schema):
    id: int
    kind: str
    status: str
    reason: str
    until: datetime | None
    requested_at: datetime
    requested_by: PersonOut | None


class OrderDetail(OrderOut):
    actions: list[str] = Field(description="The moves the caller may make now.")
    pending_request: RequestOut | None
    timeline: list[TimelineOut]
    photos: list[PhotoOut]


class OrderPage(Schema):
    results: list[OrderOut]
    next_cursor: str | None


class MoveOut(Schema):
    action: str
    order: str
    status: str
    entry: int = Field(description="The timeline row this move wrote.")
    at: datetime
    data: dict[str, Any]
    replayed: bool = Field(description="True when an earlier request with the same key made it.")
