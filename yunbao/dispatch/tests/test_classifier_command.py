"""`yunbao classifier …` on real files: CSV in UTF-8 and GBK, XLSX, labels as codes and names,
bad columns and labels, cross-validation output, versions listed and switched, retraining."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from io import StringIO
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from yunbao.catalog.models import Category
from yunbao.dispatch import classifier
from yunbao.dispatch.models import ClassifierModel
from yunbao.dispatch.tests.test_classifier import labelled, report
from yunbao.testing import World

pytestmark = pytest.mark.django_db

# How a spreadsheet may name the four test categories.
NAMES = {
    "E0102": ["E0102", "暴露垃圾", "exposed garbage", "E0102 暴露垃圾"],
    "C0118": ["c0118", "路灯", "Street lamp", "Ｃ0118"],
    "E0505": ["E0505", "机动车乱停放", "Illegal car parking"],
    "E0201": ["E0201", "非法小广告", "illegal small ads"],
}


@pytest.fixture(autouse=True)
def _fresh_active_model() -> Iterator[None]:
    classifier.invalidate_cache()
    yield
    classifier.invalidate_cache()


def rows(per_category: int = 25) -> list[tuple[str, str]]:
    """(text, label as people write it) with every way of naming each category."""
    texts, codes = labelled(per_category)
    return [
        (text, NAMES[code][i % len(NAMES[code])])
        for i, (text, code) in enumerate(zip(texts, codes, strict=True))
    ]


def write_csv(path: Path, table: Sequence[Sequence[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows(table)
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with translation.override("en"):
        call_command("classifier", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_trains_from_a_csv_file_with_codes_and_names_and_reports_bad_rows(
    tmp_path: Path,
) -> None:
    table: list[tuple[str, ...]] = [
        ("编号", "描述", "类别"),
        *((str(i), *r) for i, r in enumerate(rows())),
    ]
    table.insert(5, ("x1", "路边有个大坑", "道路坑洼"))  # row 6: no such category
    table.insert(9, ("x2", "   ", "暴露垃圾"))  # row 10: no text
    table.insert(12, ("x3", "路灯坏了", ""))  # row 13: no label
    table.append(("x4", "下雨积水", "道路坑洼"))  # the last row, again unknown
    path = write_csv(tmp_path / "labelled.csv", table)

    out, err = run(
        "train",
        "--file",
        str(path),
        "--text-column",
        "描述",
        "--label-column",
        "类别",
        "--activate",
        "--note",
        "first file",
    )

    assert "104 rows (UTF-8): 100 used in 4 categories" in out
    assert "held out: accuracy" in out
    assert "Stored version 1 (active), 100 samples" in out
    assert "Skipped 2 rows with the unknown label '道路坑洼': rows 6, 105" in err
    assert "Skipped 1 rows without text: rows 10" in err
    assert "Skipped 1 rows without a label: rows 13" in err
    row = ClassifierModel.objects.get()
    assert row.active
    assert row.source == ClassifierModel.Source.FILE
    assert row.note == "first file"
    assert 0.9 <= row.metrics["macro_f1"] <= 1
    assert row.metrics["held_out"] == 20
    assert classifier.active_classifier().predict_one("路灯不亮了").category_code == "C0118"


def test_it_reads_a_gbk_csv_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", [("内容", "分类"), *rows(10)], encoding="gbk")
    assert path.read_bytes().decode("gb18030")  # really GBK, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")

    out, _ = run("train", "--file", str(path), "--text-column", "内容", "--label-column", "分类")

    assert "40 rows (GBK/GB18030): 40 used in 4 categories" in out
    assert "Stored version 1 (not active)" in out


def test_it_reads_a_tab_separated_file_with_a_byte_order_mark_and_multiline_texts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter="\t")
        writer.writerow(["text", "label"])
        writer.writerow(["路灯坏了\n晚上很黑", "C0118"])  # rows 2–3 of the file
        writer.writerow(["门口有垃圾", "没有这类"])  # row 4
        writer.writerows(rows(10))

    out, err = run(
        "evaluate",
        "--file",
        str(path),
        "--text-column",
        "TEXT",
        "--label-column",
        "label",
        "--folds",
        "3",
    )

    assert "42 rows (UTF-8): 41 used in 4 categories" in out
    assert "unknown label '没有这类': rows 4" in err


def test_it_trains_from_an_xlsx_workbook(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "说明"
    sheet.append(["这一页不是数据"])
    data = book.create_sheet("数据")
    data.append(["序号", "问题描述", "问题类型"])
    for number, (text, label) in enumerate(rows(10), start=1):
        data.append([number, text, label])
    data.append([99, None, "路灯"])
    path = tmp_path / "labelled.xlsx"
    book.save(path)

    out, err = run(
        "train",
        "--file",
        str(path),
        "--sheet",
        "数据",
        "--text-column",
        "问题描述",
        "--label-column",
        "问题类型",
        "--activate",
    )

    assert "41 rows (XLSX): 40 used in 4 categories" in out
    assert "Skipped 1 rows without text: rows 42" in err
    assert ClassifierModel.objects.get().active

    with pytest.raises(CommandError, match="no sheet 'Sheet9'; its sheets are: 说明, 数据"):
        run(
            "train",
            "--file",
            str(path),
            "--sheet",
            "Sheet9",
            "--text-column",
            "问题描述",
            "--label-column",
            "问题类型",
        )


def test_it_refuses_bad_files_and_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "labelled.csv", [("描述", "类别"), *rows(5)])

    with pytest.raises(CommandError, match="has no column 'text'; its columns are: '描述', '类别'"):
        run("train", "--file", str(path), "--text-column", "text", "--label-column", "类别")
    with pytest.raises(CommandError, match="does not exist"):
        run(
            "train",
            "--file",
            str(tmp_path / "missing.csv"),
            "--text-column",
            "描述",
            "--label-column",
            "类别",
        )
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CommandError, match=r"old-style \.xls"):
        run("train", "--file", str(old), "--text-column", "a", "--label-column", "b")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("not a workbook")
    with pytest.raises(CommandError, match=r"Cannot read .* as an XLSX workbook"):
        run("train", "--file", str(fake), "--text-column", "a", "--label-column", "b")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(CommandError, match="neither UTF-8 nor GBK"):
        run("train", "--file", str(binary), "--text-column", "a", "--label-column", "b")
    with pytest.raises(CommandError, match="--file needs --text-column and --label-column"):
        run("train", "--file", str(path))
    one = write_csv(tmp_path / "one.csv", [("描述", "类别"), *[("路灯坏了", "C0118")] * 9])
    with pytest.raises(CommandError, match="at least two categories"):
        run("train", "--file", str(one), "--text-column", "描述", "--label-column", "类别")
    assert not ClassifierModel.objects.exists()


def test_evaluate_prints_accuracy_macro_f1_the_per_class_table_and_the_matrix(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "labelled.csv", [("描述", "类别"), *rows(20)])

    out, _ = run(
        "evaluate",
        "--file",
        str(path),
        "--text-column",
        "描述",
        "--label-column",
        "类别",
        "--folds",
        "5",
    )

    assert "5-fold stratified cross-validation on 80 texts" in out
    assert out.count("fold ") >= 5
    assert "accuracy   " in out
    assert "macro-F1   " in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("category"))
    assert header.split() == ["category", "precision", "recall", "F1", "support"]
    lamp = next(line for line in lines if line.startswith("C0118 "))
    assert lamp.split()[-2:] == ["20", "路灯"]
    assert len(lamp) - len("路灯") == len(header) + 2  # the numbers line up under the header
    assert any(line.startswith("macro avg") for line in lines)
    matrix = lines.index("Confusion matrix (rows: true category, columns: predicted):")
    assert lines[matrix + 1].split() == ["C0118", "E0102", "E0201", "E0505"]
    assert [line.split()[0] for line in lines[matrix + 2 : matrix + 6]] == [
        "C0118",
        "E0102",
        "E0201",
        "E0505",
    ]
    assert not ClassifierModel.objects.exists()  # evaluating stores nothing


def test_evaluate_prints_a_compact_matrix_for_many_categories(tmp_path: Path) -> None:
    table: list[tuple[str, str]] = [("text", "label")]
    for category in Category.objects.filter(active=True).order_by("code")[:15]:
        table += [(s, category.code) for s in classifier.keyword_sentences(category)]
    path = write_csv(tmp_path / "keywords.csv", table)

    out, _ = run(
        "evaluate",
        "--file",
        str(path),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--folds",
        "3",
    )

    assert "Confusion matrix, compact (15 categories)" in out
    compact = out.split("Confusion matrix, compact")[1].splitlines()[1:]
    assert len(compact) == 15
    code, right_of_total = compact[0].split()[:2]
    right, total = right_of_total.split("/")
    assert code == "C0101"
    assert 0 <= int(right) <= int(total)


def test_it_lists_versions_and_switches_back(tmp_path: Path) -> None:
    out, _ = run("list")
    assert "No stored versions" in out

    path = write_csv(tmp_path / "labelled.csv", [("描述", "类别"), *rows(10)])
    arguments = ["--file", str(path), "--text-column", "描述", "--label-column", "类别"]
    run("train", *arguments, "--activate")
    run("train", *arguments, "--activate", "--note", "second")
    run("train", "--from-catalogue")

    out, _ = run("list")

    lines = out.splitlines()
    assert lines[0].split() == [
        "version",
        "source",
        "trained",
        "at",
        "samples",
        "accuracy",
        "macro-F1",
        "note",
    ]
    assert lines[1].split()[:2] == ["3", "keywords"]
    assert lines[2].startswith("* 2 ")
    assert lines[2].endswith("second")
    assert lines[3].startswith("  1 ")
    assert lines[1].split()[5:7] == ["–", "–"]  # no held-out score for the keyword model

    out, _ = run("activate", "1")

    assert "Version 1 is now active." in out
    assert classifier.active_classifier().version == 1
    with pytest.raises(CommandError, match="no classifier version 7"):
        run("activate", "7")


def test_it_trains_retrains_and_evaluates_from_orders(world: World) -> None:
    # Enough orders that a model trained on them beats the catalogue keywords whichever
    # orders the stable hash of their ids holds out (ids differ between databases).
    texts, labels = labelled(60)
    for text, code in zip(texts, labels, strict=True):
        report(world, text, code)

    out, _ = run("evaluate", "--from-orders", "--folds", "3")
    assert "240 samples in 4 categories" in out
    assert "macro-F1" in out

    out, _ = run("retrain")
    assert "Version 1 is active" in out

    out, _ = run("train", "--from-orders")
    row = ClassifierModel.objects.get(version=2)
    assert not row.active
    assert row.source == ClassifierModel.Source.ORDERS
    assert row.samples + row.metrics["held_out"] == 240


def test_it_trains_on_a_tiny_file_without_a_score(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tiny.csv", [("描述", "类别"), *rows(3)])

    out, _ = run("train", "--file", str(path), "--text-column", "描述", "--label-column", "类别")

    assert "training on all 12, without a score" in out
    row = ClassifierModel.objects.get()
    assert row.samples == 12
    assert row.metrics["held_out"] == 0
    assert "macro_f1" not in row.metrics
