"""Reading Open311 query and form parameters, collecting every problem at once.

The spec treats an empty parameter as an absent one, dates are W3C date-times (a zone is
expected; a date-time without one is read in the server's zone, a bare date as its
midnight), and lists are comma-separated. Each reader appends what is wrong to `problems`
instead of raising, so one answer names every bad parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

# The spec's default window and limit for GET requests.
WINDOW = timedelta(days=90)
MAX_RESULTS = 1000


@dataclass
class Params:
    """One request's parameters and the problems found reading them."""

    data: QueryDict
    problems: list[str] = field(default_factory=list)

    def text(self, name: str, *, max_length: int | None = None) -> str:
        value = self.data.get(name, "").strip()
        if max_length is not None and len(value) > max_length:
            self.problems.append(
                _("%(name)s is too long (at most %(n)d characters).")
                % {"name": name, "n": max_length}
            )
            return ""
        return value

    def comma_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.text(name).split(",") if item.strip()]

    def moment(self, name: str) -> datetime | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            parsed = parse_datetime(raw)
            if parsed is None and (day := parse_date(raw)) is not None:
                parsed = datetime.combine(day, time.min)
        except ValueError:
            parsed = None  # well-formed but impossible, like 2024-02-30
        if parsed is None:
            self.problems.append(
                _("%(name)s is not a W3C date-time (like 2024-05-01T08:00:00+08:00).")
                % {"name": name}
            )
            return None
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        return parsed

    def positive(self, name: str, default: int, maximum: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
            self.problems.append(
                _("%(name)s must be a whole number from 1 to %(max)d.")
                % {"name": name, "max": maximum}
            )
            return default
        return int(raw)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """start_date and end_date, at most `WINDOW` apart; the default is the last 90 days.

        One end alone reaches 90 days to the other side. Returns (start, end); end is None
        when open (up to now).
        """
        start, end = self.moment("start_date"), self.moment("end_date")
        if start is not None and end is not None:
            if end < start:
                self.problems.append(_("end_date is before start_date."))
            elif end - start > WINDOW:
                self.problems.append(
                    _("start_date and end_date may be at most %(days)d days apart.")
                    % {"days": WINDOW.days}
                )
            return start, end
        if start is not None:
            return start, start + WINDOW
        if end is not None:
            return end - WINDOW, end
        return timezone.now() - WINDOW, None

    def page(self) -> tuple[int, int]:
        """(offset, limit) from the page and page_size extension (page_size at most 1000)."""
        size = self.positive("page_size", MAX_RESULTS, MAX_RESULTS)
        number = self.positive("page", 1, 1_000_000)
        return (number - 1) * size, size
