"""`yunbao import-orders`: a sample export with good rows and one of each kind of bad row, as
CSV, XLSX and GB18030 CSV; a re-run; unknown categories with and without a default; legal
timelines; and the indicators after the import against a direct computation from the file."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from yunbao.insight import indicators
from yunbao.insight.importer import (
    ImportError_,
    ImportResult,
    import_orders,
    load_mapping,
    mapping_from,
)
from yunbao.insight.indicators import Filter
from yunbao.insight.models import ImportedCase
from yunbao.insight.store import recompute
from yunbao.insight.tests.helpers import SHANGHAI, aggregates
from yunbao.testing import World
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder
from yunbao.workorders.transitions import TRANSITIONS

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
CSV_FILE = DATA / "cases.csv"
GB_FILE = DATA / "cases-gb18030.csv"
MAPPING = DATA / "mapping.json"
GOOD = ["L001", "L002", "L003", "L004", "L005", "L006"]
# Line → why the row is bad (checked by a word of the English reason).
BAD = {
    8: "no id",
    9: "cannot read the opening time",
    10: "closed before it was opened",
    11: "latitude",
    12: "outside every grid",
    13: "unknown category '井盖破损'",
    14: "unknown unit '三街城管'",
    15: "unknown status '挂起'",
    16: "repeated (first on line 2)",
    17: "no closing time",
}


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    settings.TIME_ZONE = "Asia/Shanghai"
    with translation.override("en"):
        yield


def run(path: Path = CSV_FILE, mapping: dict[str, Any] | None = None, **kw: Any) -> ImportResult:
    m = mapping_from(mapping) if mapping is not None else load_mapping(MAPPING)
    return import_orders(path, m, batch=kw.pop("batch", 2), **kw)


def assert_sample_result(result: ImportResult) -> None:
    assert result.rows == 16
    assert result.imported == len(GOOD)
    assert {b.line: b.reason for b in result.bad}.keys() == BAD.keys()
    for b in result.bad:
        assert BAD[b.line] in b.reason, (b.line, b.reason)
    assert (
        sorted(
            ImportedCase.objects.filter(system="old-12319").values_list("external_id", flat=True)
        )
        == GOOD
    )


def sample_rows() -> list[dict[str, str]]:
    """The good rows of the sample, read straight from the file."""
    with CSV_FILE.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    # Line numbers: the header is line 1 and no cell spans lines.
    return [r for line, r in enumerate(rows, start=2) if line not in BAD]


def local(text: str, *, end_of_day: bool = False) -> dt.datetime:
    text = text.replace("/", "-")
    if len(text) == 10:
        text += " 23:59:59" if end_of_day else " 00:00"
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_a_csv_imports_good_rows_and_reports_each_bad_one(world: World) -> None:
    result = run()
    assert_sample_result(result)
    assert result.file_format == "utf-8-sig"
    orders = {
        c.external_id: c.order
        for c in ImportedCase.objects.select_related("order").filter(system="old-12319")
    }
    statuses = {k: o.status for k, o in orders.items()}
    assert statuses == {
        "L001": Status.CLOSED,
        "L002": Status.CLOSED,
        "L003": Status.CLOSED,
        "L004": Status.DISPATCHED,
        "L005": Status.REJECTED,
        "L006": Status.VOIDED,
    }
    first = orders["L001"]
    assert first.source == Source.IMPORT
    assert first.number.startswith("IM20250303")
    assert first.grid == world.grid1
    assert first.unit == world.unit1
    assert first.category == world.category
    assert first.scene is not None
    assert first.description == "路边垃圾堆放, 有异味"
    assert first.created_at == local("2025-03-03 09:00")
    assert first.handle_due == first.check_due == local("2025-03-05 18:00")
    assert first.closed_at == local("2025-03-04 10:00")
    assert first.h3_cell
    assert orders["L002"].grid == world.grid1b
    assert orders["L003"].grid == world.grid2
    assert orders["L003"].unit == world.unit2
    # A due date alone means the end of that day.
    assert orders["L003"].handle_due == local("2025-03-06", end_of_day=True)
    assert orders["L003"].description == '他说"马上来"'
    assert orders["L004"].handle_due == local("2025-03-10 18:00")
    assert orders["L005"].unit is None
    # The closing moves are on time exactly when closed ≤ due.
    flags = dict(
        TimelineEntry.objects.filter(action="verify").values_list("order__number", "on_time")
    )
    assert flags == {
        orders["L001"].number: True,
        orders["L002"].number: False,
        orders["L003"].number: True,
    }


def test_every_imported_timeline_is_a_legal_history(world: World) -> None:
    run()
    for order in WorkOrder.objects.filter(source=Source.IMPORT):
        rows = list(order.timeline.order_by("at", "id"))
        assert rows[0].action == "submit"
        assert rows[0].data == {"import": "old-12319", "id": rows[0].data["id"]}
        state = ""
        for row in rows:
            assert row.from_status == state
            if row.action != "submit":
                assert row.from_status in TRANSITIONS[row.action].sources, row.action
                assert not TRANSITIONS[row.action].note_required or row.note
            state = row.to_status
        assert state == order.status


def test_the_same_as_xlsx(world: World, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    with CSV_FILE.open(encoding="utf-8", newline="") as stream:
        for number, record in enumerate(csv.reader(stream), start=1):
            cells: list[Any] = list(record)
            if number > 1 and cells[0] == "L001":
                # Native cells: date cells and numbers, as Excel keeps them.
                cells[1] = dt.datetime(2025, 3, 3, 9)
                cells[2] = dt.datetime(2025, 3, 5, 18)
                cells[3] = dt.datetime(2025, 3, 4, 10)
                cells[7], cells[8] = 23.0005, 113.0005
            sheet.append(cells)
    path = tmp_path / "cases.xlsx"
    book.save(path)
    result = run(path)
    assert_sample_result(result)
    assert result.file_format == "XLSX"
    order = ImportedCase.objects.get(system="old-12319", external_id="L001").order
    assert order.created_at == local("2025-03-03 09:00")
    assert order.closed_at == local("2025-03-04 10:00")


def test_a_gb18030_file_is_read(world: World) -> None:
    with pytest.raises(UnicodeDecodeError):
        GB_FILE.read_bytes().decode("utf-8")
    result = run(GB_FILE)
    assert result.file_format == "gb18030"
    assert_sample_result(result)
    assert WorkOrder.objects.filter(description="路边垃圾堆放, 有异味").count() == 1


def test_a_rerun_imports_nothing_new_and_names_changed_rows(world: World, tmp_path: Path) -> None:
    run()
    kept = aggregates()
    numbers = set(WorkOrder.objects.values_list("number", flat=True))
    again = run()
    assert again.imported == 0
    assert again.already == len(GOOD)
    assert again.changed == []
    assert len(again.bad) == len(BAD)
    # A later export: L002 closed at another time, and a new case.
    text = CSV_FILE.read_text(encoding="utf-8")
    text = text.replace("2025-03-03 15:30", "2025-03-03 11:30")
    text += "L100,2025-03-07 09:00,2025-03-08 09:00,2025-03-07 10:00,已结案,暴露垃圾,一街环卫所,23.0005,113.0005,新的,\n"  # noqa: E501
    later = tmp_path / "later.csv"
    later.write_text(text, encoding="utf-8")
    third = run(later)
    assert third.imported == 1
    assert third.already == len(GOOD) - 1
    assert third.changed == [(3, "L002")]
    assert WorkOrder.objects.count() == len(numbers) + 1
    assert aggregates() != kept
    # The changed row was not applied: L002 is still late.
    l002 = ImportedCase.objects.get(external_id="L002").order
    assert l002.closed_at == local("2025-03-03 15:30")


def test_unknown_categories_are_bad_rows_or_take_the_default(world: World) -> None:
    raw = json.loads(MAPPING.read_text(encoding="utf-8"))
    result = run(mapping={**raw, "default_category": "E9901", "default_unit": "u2"})
    assert result.imported == len(GOOD) + 2  # L013 and L014 take the defaults
    assert result.defaulted == {("category", "井盖破损"): 1, ("unit", "三街城管"): 1}
    assert 13 not in {b.line for b in result.bad}
    order = ImportedCase.objects.get(external_id="L014").order
    assert order.unit == world.unit2


def test_the_indicators_after_import_match_the_file(world: World) -> None:
    run()
    rows = sample_rows()
    assert [r["案件编号"] for r in rows] == GOOD

    def closed(r: dict[str, str]) -> bool:
        return r["案件状态"] == "已结案"

    def on_time(r: dict[str, str]) -> bool:
        return local(r["结案时间"]) <= local(r["处置时限"], end_of_day=True)

    expected = {
        "reports": len(rows),
        "valid": sum(r["案件状态"] != "不予立案" for r in rows),
        "filed_voided": sum(r["案件状态"] == "作废" for r in rows),
        "closed": sum(closed(r) for r in rows),
        "closed_on_time": sum(closed(r) and on_time(r) for r in rows),
        # closed ones, and the open one on its due day
        "due_close": sum(r["案件状态"] in ("已结案", "处置中") for r in rows),
        "handled": sum(closed(r) for r in rows),
        "handled_on_time": sum(closed(r) and on_time(r) for r in rows),
    }
    assert expected == {
        "reports": 6,
        "valid": 5,
        "filed_voided": 1,
        "closed": 3,
        "closed_on_time": 2,
        "due_close": 4,
        "handled": 3,
        "handled_on_time": 2,
    }
    everything = indicators.report(Filter())
    assert {m: everything.counts[m] for m in expected} == expected
    assert everything.indicators["on_time_closing"].rate == pytest.approx(2 / 4)
    # By day (local): what was reported on Monday, and by unit and street.
    monday = dt.date(2025, 3, 3)
    reported_monday = sum(local(r["上报时间"]).date() == monday for r in rows)
    assert indicators.report(Filter(start=monday, end=monday)).counts["reports"] == 2
    assert reported_monday == 2
    unit2 = indicators.report(Filter.of(unit=world.unit2)).counts
    assert (unit2["closed"], unit2["closed_on_time"]) == (1, 1)
    street1 = indicators.report(Filter.of(area=world.street1)).counts
    assert street1["reports"] == 5
    # Durations: report → close of the closed ones, from the file's times.
    total = everything.durations["total"]
    seconds = [
        (local(r["结案时间"]) - local(r["上报时间"])).total_seconds() for r in rows if closed(r)
    ]
    assert total.n == len(seconds)
    assert total.mean_seconds == pytest.approx(sum(seconds) / len(seconds))
    # And the aggregates are exactly what a recomputation makes of the orders.
    kept = aggregates()
    recompute()
    assert aggregates() == kept


def test_a_point_outside_may_be_filed_under_the_district(world: World) -> None:
    raw = json.loads(MAPPING.read_text(encoding="utf-8"))
    result = run(mapping={**raw, "allow_outside": True})
    assert 12 not in {b.line for b in result.bad}
    order = ImportedCase.objects.get(external_id="L012").order
    assert order.grid is None
    assert order.area_path == world.district.path
    kept = aggregates()
    recompute()
    assert aggregates() == kept


def test_the_command_prints_progress_bad_rows_and_a_summary(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("import_orders", str(CSV_FILE), "--mapping", str(MAPPING), "--progress-every", "5")
    out, err = capsys.readouterr()
    assert "5 rows read:" in out
    assert "15 rows read:" in out
    assert "16 rows, 6 imported, 0 already imported, 0 changed (skipped), 10 bad" in out
    assert "line 13 (L013): unknown category '井盖破损'" in err
    assert "line 8: no id" in err
    call_command("import_orders", str(CSV_FILE), "--mapping", str(MAPPING), verbosity=0)
    out, _err = capsys.readouterr()
    assert "16 rows, 0 imported, 6 already imported" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"system": ""}, "needs a “system”"),
        ({"statuses": {"已结案": "done"}}, "use one of"),
        ({"categories": {"暴露垃圾": "X0000"}}, "no category with the code 'X0000'"),
        ({"units": {"一街环卫所": "nope"}}, "no unit with the code 'nope'"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"columns": {"id": "案件编号"}}, "lack opened, status, latitude, longitude"),
        ({"columns": {"id": "编号", "opened": "上报时间", "status": "案件状态",
                      "latitude": "纬度", "longitude": "经度"}}, "no column '编号'"),
    ],
)  # fmt: skip
def test_an_unusable_mapping_is_a_command_error(
    world: World, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    raw = json.loads(MAPPING.read_text(encoding="utf-8"))
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({**raw, **change}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        call_command("import_orders", str(CSV_FILE), "--mapping", str(path))
    assert not WorkOrder.objects.exists()


def test_an_unusable_file_is_a_command_error(world: World, tmp_path: Path) -> None:
    for name, content, message in (
        ("cases.pdf", b"%PDF", "use a .csv or .xlsx file"),
        ("empty.csv", b"", "is empty"),
        ("broken.xlsx", b"not a zip", "as an XLSX workbook"),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CommandError, match=message):
            call_command("import_orders", str(path), "--mapping", str(MAPPING))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_orders", str(tmp_path / "missing.csv"), "--mapping", str(MAPPING))
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_orders", str(CSV_FILE), "--mapping", str(CSV_FILE))
    with pytest.raises(ImportError_):
        load_mapping(tmp_path / "nothing.json")
    assert not WorkOrder.objects.exists()


@pytest.mark.django_db
def test_it_runs_the_import_benchmark_small(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.import_orders import run as bench

    figures = bench(300, batch=100)
    assert figures["rows"] == 300
    assert figures["imported"] + figures["bad"] == 300
    assert figures["rerun_already"] == figures["imported"]
    assert figures["agree_with_recompute"] is True


def test_old_lateness_is_not_announced_but_a_live_case_is_watched(world: World) -> None:
    from yunbao.sla.models import AlertLevel, SlaAlert
    from yunbao.sla.sweep import sweep

    # L004 is open with its handling deadline on 2025-03-10 18:00.
    before_due = local("2025-03-10 09:00")
    run(now=before_due)
    late = ImportedCase.objects.get(system="old-12319", external_id="L004").order
    assert not SlaAlert.objects.filter(order=late).exists()  # not overdue when imported
    sweep(local("2025-03-11 09:00"))  # a live case: its lateness is announced as usual
    assert SlaAlert.objects.filter(order=late, level=AlertLevel.ESCALATION1).exists()

    # Imported long after its deadline instead: the lateness is the legacy system's past.
    WorkOrder.objects.all().delete()
    run(now=local("2026-01-05 09:00"))
    late = ImportedCase.objects.get(system="old-12319", external_id="L004").order
    recorded = set(SlaAlert.objects.filter(order=late).values_list("level", flat=True))
    assert recorded == {AlertLevel.WARNING, AlertLevel.ESCALATION1, AlertLevel.ESCALATION2}
    assert all(a.recipients == [] for a in SlaAlert.objects.filter(order=late))
    swept = sweep(local("2026-01-05 09:01"))
    assert swept.notifications == 0
    assert sum(swept.fired.values()) == 0
