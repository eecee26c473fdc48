"""Orders and indicator tables as CSV and XLSX, written for large results.

Two kinds of export, both for the operations centre's filters (`views_exports` checks who
asks and which orders they may see; this module only writes):

- **Orders**: one row per order, the columns of `order_columns()` (translated headers, times
  in the site's time zone, Asia/Shanghai, as on every page). Rows are read as plain tuples
  (`values_list(...).iterator()`, no model objects and no joins); names of categories,
  scenes, units, areas and workers come from small dictionaries read once per export, so
  20,000 orders are a few chunked queries. The reporter's nickname and phone are columns
  only when the caller says the viewer may see them (the order page's rule).
- **Indicator tables**: the dashboard's figures (`indicators.Dashboard`) as tables: every
  indicator with numerator, denominator and rate; the volumes; the stage durations; the
  composite scores; the unit and village rankings with every indicator's parts.

CSV is streamed (`StreamingHttpResponse` over `csv_chunks`), starts with a UTF-8 byte-order
mark so Excel reads Chinese correctly, and joins rows into chunks of `CSV_CHUNK_ROWS`.
XLSX uses openpyxl's write-only mode (rows go straight to the zip stream, constant memory)
into a temporary file that the response then streams; one sheet per table.

Spreadsheet formula injection: a text cell that starts with = + - @ (or their full-width
forms, a tab or a carriage return) is a formula to Excel and LibreOffice, so such text gets
a leading apostrophe (`neutral`), in CSV and XLSX alike. Numbers stay numbers: a negative
count is not text. Control characters that XLSX cannot hold are removed from text in both
formats, so the two files say the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from django.db.models import DateTimeField, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from yunbao.catalog.models import Category, Scene, Urgency
from yunbao.geo.models import Area, Level
from yunbao.insight.indicators import INDICATORS, Dashboard, Ranked, Report
from yunbao.insight.models import Cell, DurationStage, Score
from yunbao.org.models import StaffProfile, Unit
from yunbao.workorders.models import Source, Status, WorkOrder

log = logging.getLogger(__name__)

BOM = "\ufeff"
CSV_CHUNK_ROWS = 500
ITERATOR_CHUNK = 2000
# Excel's last row is 1,048,576; one is the header.
XLSX_MAX_ROWS = 1_048_575
# Characters that start a formula in Excel, LibreOffice or WPS (full-width forms included:
# an input method may produce them), plus tab and carriage return (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
# What XML 1.0 (so XLSX) cannot hold: control characters other than tab, newline, return.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
XLSX_DATETIME = "yyyy-mm-dd hh:mm:ss"
XLSX_RATE = "0.0%"
XLSX_MEAN = "0.00"
# A sheet name may not hold these and has at most 31 characters.
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def neutral(value: Any) -> Any:
    """`value` safe for a spreadsheet cell: text without control characters, with an
    apostrophe before a formula's first character; anything else unchanged."""
    if not isinstance(value, str):
        return value
    text = _ILLEGAL.sub("", value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def local(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored (UTC) time as a naive wall-clock time of the site's zone (Asia/Shanghai)."""
    if moment is None:
        return None
    return timezone.localtime(moment, timezone.get_default_timezone()).replace(tzinfo=None)


# --- Tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: its header and how XLSX shows its numbers (`datetime`, `rate`, `mean`
    or "" for as they are)."""

    header: str
    style: str = ""


@dataclass
class Table:
    """A sheet: a name, columns and rows (an iterable, so it may be a generator)."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def csv_text(value: Any) -> Any:
    """A cell as CSV writes it: local times in `DATETIME_FORMAT`, floats without float
    noise, None as empty, text neutralised."""
    if isinstance(value, Styled):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, float):
        return repr(round(value, 6))
    return neutral(value)


class Styled(NamedTuple):
    """A value whose XLSX number format is its own rather than its column's (the mean rating
    in a column of rates: 4.5, not 450%)."""

    value: Any
    style: str


class _Line:
    """A file-like target for `csv.writer` that keeps what it is given."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def csv_chunks(table: Table, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """The table as UTF-8 CSV (BOM first, CRLF lines), in chunks of `chunk_rows` rows."""
    out = _Line()
    writer = csv.writer(out)
    writer.writerow([c.header for c in table.columns])
    yield (BOM + out.take()).encode("utf-8")
    pending = 0
    for row in table.rows:
        writer.writerow([csv_text(v) for v in row])
        pending += 1
        if pending >= chunk_rows:
            yield out.take().encode("utf-8")
            pending = 0
    if pending:
        yield out.take().encode("utf-8")


def sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique sheet name (31 characters, no []:*?/\\)."""
    base = _SHEET_BAD.sub(" ", name).strip()[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.lower())
    return candidate


class TooManyRows(ValueError):
    """More rows than a sheet holds."""


def write_xlsx(tables: Sequence[Table], target: IO[bytes]) -> None:
    """Write `tables` as one workbook, one sheet each, in openpyxl's write-only mode.
    Raises `TooManyRows` past Excel's row limit (what was written is then useless)."""
    wb = Workbook(write_only=True)
    try:
        _write_sheets(wb, tables)
    except BaseException:
        _discard(wb)
        raise
    wb.save(target)


def _discard(wb: Workbook) -> None:
    """Close the sheets of an abandoned write-only workbook and remove their temporary
    files (openpyxl only does so when saving)."""
    for ws in wb.worksheets:
        try:
            ws.close()
            ws._writer.cleanup()
        except Exception:  # already failing: the first error is the one to see
            log.debug("could not clean up an abandoned sheet", exc_info=True)


def _write_sheets(wb: Workbook, tables: Sequence[Table]) -> None:
    taken: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        ws = wb.create_sheet(sheet_name(table.name, taken))
        formats = {"datetime": XLSX_DATETIME, "rate": XLSX_RATE, "mean": XLSX_MEAN}
        for i, column in enumerate(table.columns, start=1):
            width = 20 if column.style == "datetime" else max(10, min(40, len(column.header) * 2))
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(ws, value=neutral(column.header))
            cell.font = bold
            header.append(cell)
        ws.append(header)
        # Only styled columns need a cell object; plain values are appended as they are.
        # One cell per (column, format) is reused row after row: `append` writes the row
        # out before it returns, and making and styling a cell per value cost a fifth of
        # the time.
        styled = [(i, formats[c.style]) for i, c in enumerate(table.columns) if c.style]
        cells: dict[tuple[int, str], WriteOnlyCell] = {}
        for written, row in enumerate(table.rows, start=1):
            if written > XLSX_MAX_ROWS:
                raise TooManyRows(table.name)
            # An empty text is no cell at all (openpyxl skips None, not ""): a third of an
            # order row is empty, and every cell costs XML.
            values: list[Any] = [None if v == "" else neutral(v) for v in row]
            for i, number_format in styled:
                if isinstance(values[i], Styled):
                    values[i], number_format = values[i].value, formats[values[i].style]
                if values[i] is not None:
                    cell = cells.get((i, number_format))
                    if cell is None:
                        cell = cells[(i, number_format)] = WriteOnlyCell(ws)
                        cell.number_format = number_format
                    cell.value = values[i]
                    values[i] = cell
            ws.append(values)


def xlsx_file(tables: Sequence[Table]) -> IO[bytes]:
    """The workbook in a temporary file (deleted when closed), rewound for reading."""
    # Handed to the response, which closes it: no `with` here.
    target = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        write_xlsx(tables, target)
    except BaseException:
        target.close()
        raise
    target.seek(0)
    return target


# --- Orders -------------------------------------------------------------------------------

# The WorkOrder columns an order row reads, in this order.
ORDER_FIELDS = (
    "number",
    "status",
    "source",
    "urgency",
    "category_id",
    "scene_id",
    "area_path",
    "unit_id",
    "worker_id",
    "address",
    "description",
    "lat",
    "lon",
    "created_at",
    "accepted_at",
    "dispatched_at",
    "handled_at",
    "closed_at",
    "accept_due",
    "dispatch_due",
    "handle_due",
    "check_due",
    "rework_count",
    "rating",
)
CONTACT_FIELDS = ("reporter_name", "reporter_phone")
# The date-time columns among them (written as real date-times, in local time).
_TIMES = {
    name for name in ORDER_FIELDS if isinstance(WorkOrder._meta.get_field(name), DateTimeField)
}


def _label(name: str) -> str:
    return str(getattr(WorkOrder._meta.get_field(name), "verbose_name", name)).capitalize()


def order_columns(contact: bool) -> list[Column]:
    """The orders table's columns (translated in the active language)."""
    columns = [
        Column(_label("number")),
        Column(_label("status")),
        Column(_label("source")),
        Column(_label("urgency")),
        Column(_("Category code")),
        Column(_label("category")),
        Column(_label("scene")),
        Column(_("Street")),
        Column(_("Village")),
        Column(_("Grid")),
        Column(_label("unit")),
        Column(_label("worker")),
        Column(_label("address")),
        Column(_label("description")),
        Column(_label("lat")),
        Column(_label("lon")),
    ]
    columns += [Column(_label(name), "datetime") for name in ORDER_FIELDS if name in _TIMES]
    columns += [Column(_label("rework_count")), Column(_label("rating"))]
    if contact:
        columns += [Column(_label(name)) for name in CONTACT_FIELDS]
    return columns


@dataclass
class Names:
    """Display names looked up once per export (all small tables)."""

    statuses: dict[str, str]
    sources: dict[str, str]
    urgencies: dict[str, str]
    categories: dict[int, tuple[str, str]]
    scenes: dict[int, str]
    units: dict[int, str]
    areas: dict[int, tuple[str, str]]  # id → (level, name)
    workers: dict[int, str]

    @classmethod
    def read(cls) -> Names:
        workers = {
            user_id: name or username
            for user_id, name, username in StaffProfile.objects.values_list(
                "user_id", "display_name", "user__username"
            )
        }
        return cls(
            statuses={k: str(v) for k, v in Status.choices},
            sources={k: str(v) for k, v in Source.choices},
            urgencies={k: str(v) for k, v in Urgency.choices},
            categories={c.pk: (c.code, c.display_name) for c in Category.objects.all()},
            scenes={s.pk: s.display_name for s in Scene.objects.all()},
            units={u.pk: str(u) for u in Unit.objects.all()},
            areas={
                a.pk: (a.level, a.display_name)
                for a in Area.objects.only("pk", "level", "name", "name_en")
            },
            workers=workers,
        )

    def places(self, path: str) -> tuple[str, str, str]:
        """(street, village, grid) names of an area path."""
        found: dict[str, str] = {Level.STREET: "", Level.COMMUNITY: "", Level.GRID: ""}
        for part in path.strip("/").split("/"):
            area = self.areas.get(int(part)) if part.isdigit() else None
            if area is not None and area[0] in found:
                found[area[0]] = area[1]
        return found[Level.STREET], found[Level.COMMUNITY], found[Level.GRID]


def order_rows(
    orders: QuerySet[WorkOrder], *, contact: bool, names: Names | None = None
) -> Iterator[list[Any]]:
    """One row per order of `orders` (in its order), as `order_columns(contact)` says."""
    names = names or Names.read()
    fields = ORDER_FIELDS + (CONTACT_FIELDS if contact else ())
    # Place names are the same for every order of a grid: look each path up once.
    places: dict[str, tuple[str, str, str]] = {}
    for row in orders.values_list(*fields).iterator(chunk_size=ITERATOR_CHUNK):
        (number, status, source, urgency, category, scene, path, unit, worker) = row[:9]
        code, category_name = names.categories.get(category, ("", "")) if category else ("", "")
        if path not in places:
            places[path] = names.places(path)
        times = [local(t) for t in row[13:22]]
        yield [
            number,
            names.statuses.get(status, status),
            names.sources.get(source, source),
            names.urgencies.get(urgency, urgency),
            code,
            category_name,
            names.scenes.get(scene, "") if scene else "",
            *places[path],
            names.units.get(unit, "") if unit else "",
            names.workers.get(worker, "") if worker else "",
            row[9],
            row[10],
            row[11],
            row[12],
            *times,
            row[22],
            row[23],
            *row[24:],
        ]


def orders_table(orders: QuerySet[WorkOrder], *, contact: bool) -> Table:
    return Table(_("Orders"), order_columns(contact), order_rows(orders, contact=contact))


# --- Indicator tables ----------------------------------------------------------------------


def measure_label(name: str) -> str:
    return str(getattr(Cell._meta.get_field(name), "verbose_name", name)).capitalize()


def _rate_style(key: str) -> str:
    return "mean" if INDICATORS[key].mean else "rate"


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def indicators_table(report: Report) -> Table:
    rows = [
        [key, str(ind.label), r.numerator, r.denominator, Styled(_rate(r.rate), _rate_style(key))]
        for key, ind in INDICATORS.items()
        if (r := report.indicators[key]) is not None
    ]
    columns = [
        Column(_("Key")),
        Column(_("Indicator")),
        Column(_("Numerator")),
        Column(_("Denominator")),
        Column(_("Rate"), "rate"),
    ]
    return Table(_("Indicators"), columns, rows)


def volumes_table(report: Report) -> Table:
    rows = [[m, measure_label(m), n] for m, n in report.volumes.items()]
    return Table(_("Volumes"), [Column(_("Key")), Column(_("Measure")), Column(_("Count"))], rows)


def durations_table(report: Report) -> Table:
    rows = []
    for stage in DurationStage:
        d = report.durations.get(stage.value)
        if d is None:
            continue
        mean = None if d.mean_seconds is None else round(d.mean_seconds / 3600, 4)
        p90 = None if d.p90_seconds is None else round(d.p90_seconds / 3600, 4)
        rows.append([stage.value, str(stage.label), d.n, mean, p90])
    columns = [
        Column(_("Key")),
        Column(_("Stage")),
        Column(_("Orders")),
        Column(_("Mean (hours)")),
        Column(_("90th percentile (hours)")),
    ]
    return Table(_("Stage durations"), columns, rows)


def scores_table(report: Report, weights: dict[str, dict[str, float]]) -> Table:
    rows = []
    for value, label in Score.choices:
        if value not in report.scores:
            continue
        parts = ", ".join(f"{k} × {w:g}" for k, w in weights.get(value, {}).items())
        rows.append([value, str(label), report.scores[value], parts])
    columns = [Column(_("Key")), Column(_("Score")), Column(_("Value")), Column(_("Weights"))]
    return Table(_("Composite scores"), columns, rows)


def ranking_table(
    title: str, ranked: Sequence[Ranked], name_of: Callable[[Any], tuple[str, str]]
) -> Table:
    """A ranking with every indicator's numerator, denominator and rate."""
    columns = [Column(_("Rank")), Column(_("Code")), Column(_("Name")), Column(_("Score"))]
    columns.append(Column(measure_label("reports")))
    for key, ind in INDICATORS.items():
        columns += [
            Column(f"{ind.label} · {_('Numerator')}"),
            Column(f"{ind.label} · {_('Denominator')}"),
            Column(f"{ind.label} · {_('Rate')}", _rate_style(key)),
        ]

    def rows() -> Iterator[list[Any]]:
        for position, item in enumerate(ranked, start=1):
            code, name = name_of(item.key)
            row: list[Any] = [position, code, name, item.score, item.report.counts["reports"]]
            for key in INDICATORS:
                r = item.report.indicators[key]
                row += [r.numerator, r.denominator, _rate(r.rate)]
            yield row

    return Table(title, columns, rows())


def ranking_names(figures: Dashboard) -> tuple[Callable[[Any], tuple[str, str]], ...]:
    """(code, name) lookups for the units (by id) and the villages (by path) ranked."""
    units = {
        u.pk: (u.code, str(u)) for u in Unit.objects.filter(pk__in=[r.key for r in figures.units])
    }
    villages = {
        a.path: (a.code, a.display_name)
        for a in Area.objects.filter(path__in=[r.key for r in figures.villages])
    }
    return (
        lambda key: units.get(key, ("", str(key))),
        lambda key: villages.get(key, ("", str(key))),
    )


TABLES = ("indicators", "volumes", "durations", "scores", "units", "villages")


def indicator_tables(figures: Dashboard, weights: dict[str, dict[str, float]]) -> dict[str, Table]:
    """Every table of the dashboard's figures, by name (`TABLES`, in this order)."""
    unit_name, village_name = ranking_names(figures)
    report = figures.report
    return {
        "indicators": indicators_table(report),
        "volumes": volumes_table(report),
        "durations": durations_table(report),
        "scores": scores_table(report, weights),
        "units": ranking_table(_("Units"), figures.units, unit_name),
        "villages": ranking_table(_("Villages"), figures.villages, village_name),
    }
