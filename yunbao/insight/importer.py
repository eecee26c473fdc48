"""Importing a legacy system's cases as orders: `yunbao import-orders FILE --mapping MAPPING`.

The file is a CSV (UTF-8, with or without BOM, else GB18030 — which also reads GBK and
GB2312, the usual encodings of Chinese exports; comma, tab or semicolon, decided by the
header line) or an XLSX workbook (the first sheet, or `sheet`), one case per row under a
header row. The mapping is a JSON file:

    {
      "system": "old-12319",
      "columns": {
        "id": "案件编号", "opened": "上报时间", "due": "处置时限", "closed": "结案时间",
        "status": "案件状态", "category": "小类", "unit": "责任部门",
        "latitude": "纬度", "longitude": "经度",
        "description": "问题描述", "address": "地址"
      },
      "statuses": {"已结案": "closed", "处置中": "open", "不予立案": "rejected",
                   "作废": "voided"},
      "categories": {"暴露垃圾": "E0102", "果皮箱": "C0305"},
      "units": {"环卫所": "sanitation-1"},
      "default_category": "E0102",
      "default_unit": null,
      "timezone": "Asia/Shanghai",
      "date_formats": ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"],
      "coordinates": "wgs84",
      "allow_outside": false,
      "sheet": null,
      "encoding": null
    }

- `system` (required): a name for the legacy system. With the case's id it identifies the
  case (`ImportedCase`), so a second run of the same file (or a later export that repeats
  cases) skips what was imported: unchanged rows as "already imported", rows whose mapped
  cells differ as "changed, skipped" (an import records history; it does not edit orders).
- `columns` (required): our field → their column header (matched exactly, then ignoring
  case and spaces). Required fields: `id`, `opened`, `status`, `latitude`, `longitude`;
  optional: `due` (the due or target time: the handling deadline), `closed`, `category`,
  `unit`, `description`, `address`.
- `statuses` (required): their status value → `open`, `closed`, `rejected` or `voided`.
- `categories`: their value → our category code; `units`: their department → our unit
  code. A value not listed is used as our code itself if it is one. A row whose value is
  unknown (or empty) takes `default_category` / `default_unit`, and is a bad row without one.
- `timezone` (default Asia/Shanghai) for times without an offset; `date_formats`
  (`strptime` formats, tried in order after ISO 8601 and the usual 2025-03-05 08:30[:00] or
  2025/3/5 08:30 forms). A date alone means the start of that day, except for the due time:
  the end of that day. XLSX date cells are used as they are.
- `coordinates`: `wgs84` (default) or `gcj02` (converted to WGS-84 on the way in).
- `allow_outside`: a point in no grid is filed under the district instead of being a bad row.

**What a case becomes.** One `WorkOrder` (source `import`) and its timeline, written
directly with bulk inserts as `generate.py` writes history, not replayed through
`workorders.actions`: these moves happened elsewhere and in the past. Replaying them would
compute every deadline from today's catalogue and calendar instead of keeping the due time
the legacy system gave, publish events (notifications to people about cases closed years
ago, webhooks, automatic dispatch) and check roles no importer holds. The rows written are
what the actions would have left for that history, all legal moves of `TRANSITIONS`:

- `closed`: submit, accept and dispatch (to the unit) at the opening time, start, then
  finish and verify at the closing time. Filing and dispatch deadlines are the opening time
  (the legacy system keeps none: they count as met); the handling and check deadlines are
  the given due time, so the finish and the closing verify are on time exactly when
  closed ≤ due — which is what "closed on time" then says.
- `open`: submit, accept and dispatch at the opening time; the order waits in `dispatched`
  with the given due time as its handling deadline (counted due on that day). If that
  deadline has already passed at import, its warning and escalations are recorded as given
  (`SlaAlert`, nobody notified): the time-limit sweep then does not announce years-old
  lateness to today's leaders in one burst; a case not yet due is watched as usual.
- `rejected`: submit, then reject at the closing time (else the opening time), in time.
- `voided`: submit, accept at the opening time, void at the closing time (else opening).

Bad rows — a missing id, an id repeated in the file, unparseable or missing times, closed
before opened, a time in the future, impossible coordinates or a point outside the district,
an unknown category, unit or status without a default — are reported with their line number
and reason; the others are imported. Each batch is one transaction holding its orders, their
timelines, the import records and their contribution to the indicators (`store.add_orders`,
the functions `recompute()` uses), so the figures equal a recomputation and an interrupted
run leaves whole batches only.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.catalog.models import Category, Stage
from yunbao.geo.coords import gcj02_to_wgs84
from yunbao.geo.locate import InvalidCoordinates, check_coordinates, h3_cell, locate_many
from yunbao.geo.models import Area, Level
from yunbao.insight.facts import OrderRow, Step
from yunbao.insight.models import ImportedCase
from yunbao.insight.store import Accumulator, add_orders, save_facts
from yunbao.org.models import Unit
from yunbao.sla.models import AlertLevel, SlaAlert
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder
from yunbao.workorders.transitions import TRANSITIONS

__all__ = [
    "BadRow",
    "ImportError_",
    "ImportResult",
    "Mapping",
    "import_orders",
    "load_mapping",
]

FIELDS = (
    "id",
    "opened",
    "due",
    "closed",
    "status",
    "category",
    "unit",
    "latitude",
    "longitude",
    "description",
    "address",
)
REQUIRED = ("id", "opened", "status", "latitude", "longitude")
OUR_STATUSES = ("open", "closed", "rejected", "voided")
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
ENCODINGS = ("utf-8-sig", "gb18030")
DEFAULT_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d%H%M%S",
)
_DATE_ONLY = re.compile(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?\s*$")
ROLE = "system"
_NOTED = {a for a, t in TRANSITIONS.items() if t.note_required}
# A due date without a time means "by the end of that day".
_END_OF_DAY = dt.time(23, 59, 59)


class ImportError_(ValueError):  # noqa: N801 (the builtin name is taken)
    """The file or the mapping cannot be used at all (not a bad row: nothing is imported)."""


# --- The mapping ----------------------------------------------------------------------------


def _fold(text: str) -> str:
    return "".join(text.split()).casefold()


@dataclass(frozen=True)
class _Category:
    pk: int
    scene_id: int | None
    urgency: str


@dataclass
class Mapping:
    system: str
    columns: dict[str, str]
    statuses: dict[str, str]
    categories: dict[str, _Category]
    units: dict[str, int]
    default_category: _Category | None = None
    default_unit: int | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    date_formats: tuple[str, ...] = DEFAULT_FORMATS
    gcj02: bool = False
    allow_outside: bool = False
    sheet: str | None = None
    encoding: str | None = None

    def lookup(self, table: dict[str, Any], value: str) -> Any:
        """Their value in one of the (folded) tables, or None."""
        return table.get(_fold(value)) if value else None


def load_mapping(path: str | Path) -> Mapping:
    """Read and check the mapping file against the catalogue and the units."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ImportError_(
            _("Cannot read the mapping %(file)s: %(error)s") % {"file": path, "error": exc}
        ) from exc
    except ValueError as exc:
        raise ImportError_(
            _("The mapping %(file)s is not valid JSON: %(error)s") % {"file": path, "error": exc}
        ) from exc
    if not isinstance(raw, dict):
        raise ImportError_(_("The mapping must be a JSON object."))
    return mapping_from(raw)


def _table(raw: dict[str, Any], key: str) -> dict[str, str]:
    value = raw.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ImportError_(_("“%(key)s” in the mapping must be an object of texts.") % {"key": key})
    return value


def mapping_from(raw: dict[str, Any]) -> Mapping:
    system = raw.get("system")
    if not isinstance(system, str) or not system.strip() or len(system.strip()) > 64:
        raise ImportError_(_("The mapping needs a “system”: the legacy system's name (≤ 64)."))
    columns = _table(raw, "columns")
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ImportError_(
            _("Unknown fields in the mapping's columns: %(fields)s (known: %(known)s).")
            % {"fields": ", ".join(unknown), "known": ", ".join(FIELDS)}
        )
    missing = [f for f in REQUIRED if not columns.get(f, "").strip()]
    if missing:
        raise ImportError_(
            _("The mapping's columns lack %(fields)s.") % {"fields": ", ".join(missing)}
        )
    statuses: dict[str, str] = {}
    for theirs, ours in _table(raw, "statuses").items():
        if ours not in OUR_STATUSES:
            raise ImportError_(
                _("Status %(theirs)s maps to %(ours)s; use one of: %(allowed)s.")
                % {"theirs": repr(theirs), "ours": repr(ours), "allowed": ", ".join(OUR_STATUSES)}
            )
        statuses[_fold(theirs)] = ours
    if not statuses:
        raise ImportError_(_("The mapping needs “statuses”: their values → ours."))

    known_categories = {
        c.code: c for c in Category.objects.prefetch_related("scenes").order_by("code")
    }

    def category(code: str, where: str) -> _Category:
        c = known_categories.get(code)
        if c is None:
            raise ImportError_(
                _("%(where)s: there is no category with the code %(code)s.")
                % {"where": where, "code": repr(code)}
            )
        scenes = sorted(c.scenes.all(), key=lambda s: (s.sort, s.pk))
        return _Category(c.pk, scenes[0].pk if scenes else None, c.default_urgency)

    known_units = dict(Unit.objects.values_list("code", "pk"))

    def unit(code: str, where: str) -> int:
        if code not in known_units:
            raise ImportError_(
                _("%(where)s: there is no unit with the code %(code)s.")
                % {"where": where, "code": repr(code)}
            )
        return known_units[code]

    categories = {_fold(code): category(code, code) for code in known_categories}
    for theirs, ours in _table(raw, "categories").items():
        categories[_fold(theirs)] = category(ours, theirs)
    units = {_fold(code): pk for code, pk in known_units.items()}
    for theirs, ours in _table(raw, "units").items():
        units[_fold(theirs)] = unit(ours, theirs)

    default_category = raw.get("default_category")
    default_unit = raw.get("default_unit")
    try:
        zone = ZoneInfo(str(raw.get("timezone") or "Asia/Shanghai"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImportError_(
            _("Unknown time zone %(zone)s.") % {"zone": repr(raw.get("timezone"))}
        ) from exc
    formats = raw.get("date_formats") or []
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise ImportError_(_("“date_formats” must be a list of strptime formats."))
    coordinates = raw.get("coordinates") or "wgs84"
    if coordinates not in ("wgs84", "gcj02"):
        raise ImportError_(_("“coordinates” must be wgs84 or gcj02."))
    return Mapping(
        system=system.strip(),
        columns={k: v.strip() for k, v in columns.items() if v.strip()},
        statuses=statuses,
        categories=categories,
        units=units,
        default_category=(
            category(default_category, "default_category") if default_category else None
        ),
        default_unit=unit(default_unit, "default_unit") if default_unit else None,
        timezone=zone,
        date_formats=(*formats, *DEFAULT_FORMATS),
        gcj02=coordinates == "gcj02",
        allow_outside=bool(raw.get("allow_outside")),
        sheet=raw.get("sheet") or None,
        encoding=raw.get("encoding") or None,
    )


# --- Reading the file -------------------------------------------------------------------------

Rows = Iterator[tuple[int, list[Any]]]


def _csv_rows(path: Path, encoding: str | None) -> tuple[list[str], Rows, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportError_(
            _("Cannot read %(file)s: %(error)s") % {"file": path, "error": exc}
        ) from exc
    text = None
    for codec in (encoding,) if encoding else ENCODINGS:
        try:
            text, used = raw.decode(codec), codec
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        raise ImportError_(
            _("%(file)s is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV or as XLSX.")
            % {"file": path}
        )
    first_line = text.split("\n", 1)[0]
    delimiter = max(",\t;", key=lambda d: (first_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportError_(_("%(file)s is empty.") % {"file": path}) from None
    except csv.Error as exc:
        raise ImportError_(
            _("%(file)s is not a readable CSV file: %(error)s") % {"file": path, "error": exc}
        ) from exc

    def rows() -> Rows:
        line = reader.line_num
        try:
            for record in reader:
                start, line = line + 1, reader.line_num
                if any(cell.strip() for cell in record):
                    yield start, record
        except csv.Error as exc:
            raise ImportError_(
                _("%(file)s, line %(line)d: %(error)s")
                % {"file": path, "line": reader.line_num, "error": exc}
            ) from exc

    return [h.strip() for h in header], rows(), used


def _xlsx_rows(path: Path, sheet: str | None) -> tuple[list[str], Rows, str]:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors alike
        raise ImportError_(
            _("Cannot read %(file)s as an XLSX workbook: %(error)s") % {"file": path, "error": exc}
        ) from exc
    if sheet is not None and sheet not in book.sheetnames:
        book.close()
        raise ImportError_(
            _("%(file)s has no sheet %(sheet)s; its sheets are: %(sheets)s")
            % {"file": path, "sheet": repr(sheet), "sheets": ", ".join(book.sheetnames)}
        )
    values = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
    try:
        header = ["" if v is None else str(v).strip() for v in next(values)]
    except StopIteration:
        book.close()
        raise ImportError_(_("%(file)s is empty.") % {"file": path}) from None

    def rows() -> Rows:
        try:
            for number, record in enumerate(values, start=2):
                cells = list(record)
                if any(c is not None and str(c).strip() for c in cells):
                    yield number, cells
        finally:
            book.close()  # read-only mode keeps the file open until closed

    return header, rows(), "XLSX"


def read_table(path: Path, mapping: Mapping) -> tuple[dict[str, int], Rows, str]:
    """The column index of each mapped field, the rows (line number, cells) and the format."""
    suffix = path.suffix.lower()
    if suffix in XLSX_SUFFIXES:
        header, rows, kind = _xlsx_rows(path, mapping.sheet)
    elif suffix in CSV_SUFFIXES:
        header, rows, kind = _csv_rows(path, mapping.encoding)
    else:
        raise ImportError_(_("%(file)s: use a .csv or .xlsx file.") % {"file": path})
    exact = {h: i for i, h in reversed(list(enumerate(header))) if h}
    folded = {_fold(h): i for i, h in reversed(list(enumerate(header))) if h}
    index: dict[str, int] = {}
    missing = []
    for ours, theirs in mapping.columns.items():
        i = exact.get(theirs, folded.get(_fold(theirs)))
        if i is None:
            missing.append(theirs)
        else:
            index[ours] = i
    if missing:
        raise ImportError_(
            _("%(file)s has no column %(columns)s; its columns are: %(header)s")
            % {
                "file": path,
                "columns": ", ".join(repr(m) for m in missing),
                "header": ", ".join(repr(h) for h in header if h) or _("(none)"),
            }
        )
    return index, rows, kind


# --- Rows → cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    line: int
    external_id: str
    reason: str


@dataclass
class Case:
    line: int
    external_id: str
    digest: str
    status: str
    opened: dt.datetime
    due: dt.datetime | None
    closed: dt.datetime | None
    category: _Category
    unit_id: int | None
    lat: float
    lon: float
    description: str
    address: str
    # (field, their value) that took the mapping's default
    defaulted: list[tuple[str, str]] = field(default_factory=list)


class _Bad(Exception):
    pass


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # an id typed as a number in Excel: 1001.0 → 1001
    return str(value).strip()


def _digest(cells: dict[str, Any]) -> str:
    canonical = json.dumps(
        {k: v.isoformat() if isinstance(v, dt.datetime | dt.date) else _text(v)
         for k, v in sorted(cells.items())},
        ensure_ascii=False,
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_time(value: Any, mapping: Mapping, *, end_of_day: bool = False) -> dt.datetime | None:
    """An aware datetime from a cell, None for an empty cell; raises ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, _END_OF_DAY if end_of_day else dt.time.min)
    else:
        text = str(value).strip()
        day = _DATE_ONLY.match(text)
        if day:
            moment = dt.datetime.combine(
                dt.date(int(day[1]), int(day[2]), int(day[3])),
                _END_OF_DAY if end_of_day else dt.time.min,
            )
        else:
            try:
                moment = dt.datetime.fromisoformat(text)
            except ValueError:
                for fmt in mapping.date_formats:
                    try:
                        moment = dt.datetime.strptime(text, fmt)
                        break
                    except ValueError:
                        continue
        if moment is None:
            raise ValueError(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=mapping.timezone)
    return moment


def parse_row(line: int, cells: list[Any], index: dict[str, int], mapping: Mapping,
              now: dt.datetime) -> Case:  # fmt: skip
    """The case in one row, or `_Bad` with the reason."""
    got = {f: cells[i] if i < len(cells) else None for f, i in index.items()}
    external_id = _text(got.get("id"))
    if not external_id:
        raise _Bad(_("no id"))
    if len(external_id) > 128:
        raise _Bad(_("the id is longer than 128 characters"))

    def time_of(name: str, label: str, *, end_of_day: bool = False) -> dt.datetime | None:
        try:
            moment = parse_time(got.get(name), mapping, end_of_day=end_of_day)
        except (ValueError, OverflowError):
            raise _Bad(
                _("cannot read the %(what)s time %(value)s")
                % {"what": label, "value": repr(_text(got.get(name)))}
            ) from None
        if moment is not None and moment > now and name != "due":
            raise _Bad(_("the %(what)s time is in the future") % {"what": label})
        return moment

    opened = time_of("opened", _("opening"))
    if opened is None:
        raise _Bad(_("no opening time"))
    due = time_of("due", _("due"), end_of_day=True)
    closed = time_of("closed", _("closing"))

    their_status = _text(got.get("status"))
    status = mapping.lookup(mapping.statuses, their_status)
    if status is None:
        raise _Bad(_("unknown status %(value)s") % {"value": repr(their_status)})
    if closed is not None and closed < opened:
        raise _Bad(_("closed before it was opened"))
    if due is not None and due < opened:
        raise _Bad(_("due before it was opened"))
    if status == "closed" and closed is None:
        raise _Bad(_("closed, but no closing time"))
    if status == "open" and closed is not None:
        raise _Bad(_("open, but with a closing time"))
    if status in ("closed", "open") and due is None:
        raise _Bad(_("no due time"))

    their_category = _text(got.get("category"))
    defaulted: list[tuple[str, str]] = []
    category = mapping.lookup(mapping.categories, their_category)
    if category is None:
        if mapping.default_category is None:
            raise _Bad(_("unknown category %(value)s") % {"value": repr(their_category)})
        category = mapping.default_category
        defaulted.append(("category", their_category))
    unit_id = None
    if status in ("closed", "open"):  # dispatched to a unit
        their_unit = _text(got.get("unit"))
        unit_id = mapping.lookup(mapping.units, their_unit)
        if unit_id is None:
            if mapping.default_unit is None:
                raise _Bad(_("unknown unit %(value)s") % {"value": repr(their_unit)})
            unit_id = mapping.default_unit
            defaulted.append(("unit", their_unit))

    try:
        raw_lat, raw_lon = got.get("latitude"), got.get("longitude")
        lat, lon = check_coordinates(
            raw_lat.strip() if isinstance(raw_lat, str) else raw_lat,
            raw_lon.strip() if isinstance(raw_lon, str) else raw_lon,
        )
    except InvalidCoordinates as exc:
        raise _Bad(str(exc)) from None
    if mapping.gcj02:
        lat, lon = gcj02_to_wgs84(lat, lon)
    return Case(
        line=line,
        external_id=external_id,
        digest=_digest(got),
        status=status,
        opened=opened,
        due=due,
        closed=closed,
        category=category,
        unit_id=unit_id,
        lat=lat,
        lon=lon,
        description=_text(got.get("description")),
        address=_text(got.get("address"))[:255],
        defaulted=defaulted,
    )


# --- Cases → orders -------------------------------------------------------------------------

StepRow = tuple[str, str, str, dt.datetime, bool | None]


def history(case: Case) -> tuple[str, dict[str, Any], list[StepRow]]:
    """The order's status, its fields and its timeline (see the module docstring)."""
    o = case.opened
    steps: list[StepRow] = [("submit", "", Status.SUBMITTED, o, None)]
    fields: dict[str, Any] = {"accept_due": o}
    if case.status == "rejected":
        t = case.closed or o
        fields["accept_due"] = t
        steps.append(("reject", Status.SUBMITTED, Status.REJECTED, t, True))
        return Status.REJECTED, fields, steps
    steps.append(("accept", Status.SUBMITTED, Status.ACCEPTED, o, True))
    fields.update(accepted_at=o, dispatch_due=o)
    if case.status == "voided":
        steps.append(("void", Status.ACCEPTED, Status.VOIDED, case.closed or o, None))
        return Status.VOIDED, fields, steps
    steps.append(("dispatch", Status.ACCEPTED, Status.DISPATCHED, o, True))
    fields.update(dispatched_at=o, handle_due=case.due, unit_id=case.unit_id)
    if case.status == "open":
        return Status.DISPATCHED, fields, steps
    c, due = case.closed, case.due
    assert c is not None  # parse_row checked both
    assert due is not None
    on_time = c <= due
    steps += [
        ("start", Status.DISPATCHED, Status.IN_PROGRESS, o, None),
        ("finish", Status.IN_PROGRESS, Status.HANDLED, c, on_time),
        ("verify", Status.HANDLED, Status.CLOSED, c, on_time),
    ]
    fields.update(started_at=o, handled_at=c, check_due=due, closed_at=c)
    return Status.CLOSED, fields, steps


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    already: int = 0
    changed: list[tuple[int, str]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    # (field, their value) → rows of this file that took the mapping's default for it
    defaulted: Counter[tuple[str, str]] = field(default_factory=Counter)
    file_format: str = ""
    seconds: float = 0.0


def _district() -> tuple[int | None, str] | None:
    district = Area.objects.filter(level=Level.DISTRICT).order_by("code").first()
    return (None, district.path) if district else None


def import_orders(
    path: str | Path,
    mapping: Mapping,
    *,
    batch: int = 500,
    progress_every: int = 1000,
    progress: Callable[[str], None] | None = None,
    on_bad: Callable[[BadRow], None] | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Import the file's cases; bad rows are reported (`on_bad`, `result.bad`), not fatal.
    Raises `ImportError_` only when the file cannot be used at all (before any write)."""
    path = Path(path)
    now = now or timezone.now()
    index, rows, kind = read_table(path, mapping)
    result = ImportResult(file_format=kind)
    started = time.perf_counter()
    seen: dict[str, int] = {}
    pending: list[Case] = []
    acc = Accumulator()
    outside = _district() if mapping.allow_outside else None
    next_report = progress_every

    def bad(line: int, external_id: str, reason: str) -> None:
        row = BadRow(line, external_id, reason)
        result.bad.append(row)
        if on_bad:
            on_bad(row)

    def flush() -> None:
        if pending:
            _write(pending, mapping, result, acc, outside, bad, now)
            pending.clear()

    for line, cells in rows:
        result.rows += 1
        try:
            case = parse_row(line, cells, index, mapping, now)
        except _Bad as exc:
            bad(line, _text(cells[index["id"]]) if index["id"] < len(cells) else "", str(exc))
        else:
            first = seen.get(case.external_id)
            if first is not None:
                bad(line, case.external_id, _("the id is repeated (first on line %(line)d)")
                    % {"line": first})  # fmt: skip
            else:
                seen[case.external_id] = line
                result.defaulted.update(case.defaulted)
                pending.append(case)
                if len(pending) >= batch:
                    flush()
        if progress and progress_every and result.rows >= next_report:
            flush()
            next_report += progress_every
            progress(_progress_line(result, time.perf_counter() - started))
    flush()
    result.bad.sort(key=lambda b: b.line)
    result.seconds = time.perf_counter() - started
    return result


def _progress_line(result: ImportResult, seconds: float) -> str:
    return _(
        "%(rows)s rows read: %(imported)s imported, %(already)s already imported, "
        "%(changed)s changed (skipped), %(bad)s bad (%(rate)s rows/s)"
    ) % {
        "rows": f"{result.rows:,}",
        "imported": f"{result.imported:,}",
        "already": f"{result.already:,}",
        "changed": f"{len(result.changed):,}",
        "bad": f"{len(result.bad):,}",
        "rate": f"{result.rows / max(seconds, 1e-9):,.0f}",
    }


def _alerts_already_given(orders: list[WorkOrder], now: dt.datetime) -> list[SlaAlert]:
    """For open cases already past their handling deadline, the warning and escalations
    whose point has passed, recorded as given (with nobody notified): the legacy system
    dealt with that lateness, and the time-limit sweep must not announce years of history
    to today's leaders in one burst. Cases not yet overdue get their alerts as usual."""
    share = float(settings.YUNBAO_SLA_ESCALATE2_SHARE)
    batch = uuid.uuid4()
    alerts = []
    for order in orders:
        due, start = order.handle_due, order.dispatched_at
        if order.status != Status.DISPATCHED or due is None or due > now:
            continue
        levels = [AlertLevel.WARNING, AlertLevel.ESCALATION1]
        if start is not None and due + share * (due - start) <= now:
            levels.append(AlertLevel.ESCALATION2)
        alerts += [
            SlaAlert(
                order=order,
                stage=Stage.HANDLE,
                due=due,
                level=level,
                fired_at=now,
                recipients=[],
                batch=batch,
            )
            for level in levels
        ]
    return alerts


def _write(
    cases: list[Case],
    mapping: Mapping,
    result: ImportResult,
    acc: Accumulator,
    outside: tuple[int | None, str] | None,
    bad: Callable[[int, str, str], None],
    now: dt.datetime,
) -> None:
    known = dict(
        ImportedCase.objects.filter(
            system=mapping.system, external_id__in=[c.external_id for c in cases]
        ).values_list("external_id", "row_digest")
    )
    fresh = []
    for case in cases:
        digest = known.get(case.external_id)
        if digest is None:
            fresh.append(case)
        elif digest == case.digest:
            result.already += 1
        else:
            result.changed.append((case.line, case.external_id))
    if not fresh:
        return
    places = locate_many([(c.lat, c.lon) for c in fresh])
    orders: list[WorkOrder] = []
    kept: list[tuple[Case, list[StepRow]]] = []
    for case, place in zip(fresh, places, strict=True):
        grid_id: int | None
        if place is not None:
            grid_id, area_path = place.grid.pk, place.grid.path
        elif outside is not None:
            grid_id, area_path = outside
        else:
            bad(case.line, case.external_id,
                _("the point %(lat).6f, %(lon).6f is outside every grid of the district")
                % {"lat": case.lat, "lon": case.lon})  # fmt: skip
            continue
        status, fields, steps = history(case)
        orders.append(
            WorkOrder(
                # Temporary and unique; the real number needs the row id (below).
                number=f"IMP{case.digest[:21]}",
                status=status,
                source=Source.IMPORT,
                scene_id=case.category.scene_id,
                category_id=case.category.pk,
                urgency=case.category.urgency,
                description=case.description,
                address=case.address,
                lat=case.lat,
                lon=case.lon,
                h3_cell=h3_cell(case.lat, case.lon),
                grid_id=grid_id,
                area_path=area_path,
                created_at=case.opened,
                **fields,
            )
        )
        kept.append((case, steps))
    if not orders:
        return
    tz = timezone.get_default_timezone()
    note = _("Imported from %(system)s") % {"system": mapping.system}
    with transaction.atomic():
        WorkOrder.objects.bulk_create(orders, batch_size=1000)
        for order in orders:
            # Like the native YB numbers: IM + local date of the report + the row id.
            order.number = f"IM{timezone.localtime(order.created_at, tz):%Y%m%d}{order.pk:06d}"
        WorkOrder.objects.bulk_update(orders, ["number"], batch_size=1000)
        entries = []
        for order, (case, steps) in zip(orders, kept, strict=True):
            for action, frm, to, at, on_time in steps:
                details: dict[str, Any] = {}
                if action == "submit":
                    details = {"import": mapping.system, "id": case.external_id}
                entries.append(
                    TimelineEntry(
                        order_id=order.pk,
                        action=action,
                        from_status=frm,
                        to_status=to,
                        role=ROLE,
                        at=at,
                        on_time=on_time,
                        # Moves that need a reason (reject, void, finish) say where they were made.
                        note=note if action in _NOTED else "",
                        data=details,
                    )
                )
        TimelineEntry.objects.bulk_create(entries, batch_size=2000)
        ImportedCase.objects.bulk_create(
            [
                ImportedCase(
                    system=mapping.system,
                    external_id=case.external_id,
                    order_id=order.pk,
                    row_digest=case.digest,
                    imported_at=now,
                )
                for order, (case, _steps) in zip(orders, kept, strict=True)
            ],
            batch_size=2000,
        )
        SlaAlert.objects.bulk_create(_alerts_already_given(orders, now), batch_size=2000)
        records = add_orders(
            acc,
            (
                (
                    OrderRow(
                        order.pk, order.status, order.source, order.scene_id,
                        order.category_id, order.unit_id, order.area_path, order.created_at,
                        order.accept_due, order.dispatch_due, order.handle_due,
                        order.check_due, order.rating,
                    ),
                    [Step(*step) for step in steps],
                )
                for order, (_case, steps) in zip(orders, kept, strict=True)
            ),
        )  # fmt: skip
        save_facts(records)
        acc.flush()
    result.imported += len(orders)
