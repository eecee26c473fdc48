"""Labelled texts for the category classifier: from a spreadsheet and from the project's orders.

A spreadsheet is a CSV file (UTF-8, UTF-8 with a byte-order mark, or GBK — read as GB18030,
its superset, as Excel on a Chinese Windows saves it) or an XLSX workbook (its first sheet
unless one is named). One column holds the text, another the label. A label may be a
category code (``E0102``), the category's Chinese or English name (``暴露垃圾``, ``Exposed
garbage``) or both as the admin shows them (``E0102 暴露垃圾``); codes and English names are
matched regardless of case and full-width letters. Rows whose label matches no active
category, and rows without text, are skipped and reported by row number (the header is row 1;
in a CSV file the row number is the line where the record starts).

From the project's own data, `training_data_from_orders` takes every closed order with a
category and a description, and every dispatcher's correction: the latest correction of an
order overrides the order's category, and each correction's text is repeated
`CORRECTION_WEIGHT` times, so the machine's mistakes count more than the cases it got right.
Every sample carries a key (``order:<id>``) so that all samples of one order fall on the same
side of a train / held-out split.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from yunbao.catalog.models import Category

__all__ = [
    "CORRECTION_WEIGHT",
    "FileRead",
    "LabelledTexts",
    "TrainingFileError",
    "label_resolver",
    "read_labelled_file",
    "training_data_from_orders",
]

# How many times a dispatcher's correction counts: a correction is a case the machine got
# wrong, and a person took the time to say so.
CORRECTION_WEIGHT = 3

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
# Tried in this order; GB18030 decodes everything GBK does (and GB2312).
ENCODINGS = (("utf-8-sig", "UTF-8"), ("gb18030", "GBK/GB18030"))


class TrainingFileError(ValueError):
    """The file cannot be read as a labelled table (format, encoding, columns)."""


@dataclass
class LabelledTexts:
    """Texts, their category codes and (optionally) a grouping key per sample."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: str, key: str = "") -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.keys.append(key)

    def counts(self) -> Counter[str]:
        """Samples per category code."""
        return Counter(self.labels)

    def split_by_key(self, share: float) -> tuple[LabelledTexts, LabelledTexts]:
        """(training, held-out): a sample is held out when a stable hash of its key says so.

        The hash (CRC-32, not Python's salted `hash`) puts a key on the same side in every
        process and every run, so a model trained on the training side never saw any
        held-out sample, however often the data is split again as it grows.
        """
        training, held = LabelledTexts(), LabelledTexts()
        cut = round(share * 1000)
        for text, label, key in zip(self.texts, self.labels, self.keys, strict=True):
            side = held if zlib.crc32(key.encode("utf-8")) % 1000 < cut else training
            side.add(text, label, key)
        return training, held


@dataclass
class FileRead:
    """What a labelled file gave: the usable rows and what was skipped, by row number."""

    data: LabelledTexts
    rows: int = 0
    encoding: str = ""
    empty_texts: list[int] = field(default_factory=list)
    missing_labels: list[int] = field(default_factory=list)
    # The label as written → the rows that carry it.
    unknown_labels: dict[str, list[int]] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        unknown = sum(len(rows) for rows in self.unknown_labels.values())
        return len(self.empty_texts) + len(self.missing_labels) + unknown


def _fold(text: str) -> str:
    """A label as compared: full-width letters made plain, spaces trimmed, case ignored."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def label_resolver() -> Callable[[str], str | None]:
    """A function from a label as people write it to an active category's code (or None)."""
    names: dict[str, str] = {}
    for code, name, name_en in Category.objects.filter(active=True).values_list(
        "code", "name", "name_en"
    ):
        # Codes first: a name that happens to look like a code never hides one.
        for alias in (f"{code} {name}", f"{code} {name_en}", name_en, name):
            if alias.strip():
                names.setdefault(_fold(alias), code)
        names[_fold(code)] = code

    def resolve(label: str) -> str | None:
        folded = _fold(label)
        found = names.get(folded)
        if found is None and " " in folded:  # "E0102 垃圾乱扔": a code with a free name
            found = names.get(folded.split(" ", 1)[0])
        return found

    return resolve


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a spreadsheet cell
    return str(value).strip()


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    for codec, name in ENCODINGS:
        try:
            return raw.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise TrainingFileError(
        _("%(file)s is neither UTF-8 nor GBK text; save it as UTF-8 CSV or as XLSX.")
        % {"file": path}
    )


def _csv_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrainingFileError(
            _("Cannot read %(file)s: %(error)s") % {"file": path, "error": exc}
        ) from exc
    text, encoding = _decode(raw, path)
    first_line = text.split("\n", 1)[0]
    # The header decides the delimiter: Excel's "CSV" is a semicolon file in some locales,
    # and a tab-separated export is common; plain commas otherwise.
    delimiter = max(",\t;", key=lambda d: (first_line.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise TrainingFileError(_("%(file)s is empty.") % {"file": path}) from None
    except csv.Error as exc:
        raise TrainingFileError(
            _("%(file)s is not a readable CSV file: %(error)s") % {"file": path, "error": exc}
        ) from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num
        try:
            for record in reader:
                start, line = line + 1, reader.line_num
                yield start, record
        except csv.Error as exc:
            raise TrainingFileError(
                _("%(file)s, line %(line)d: %(error)s")
                % {"file": path, "line": reader.line_num, "error": exc}
            ) from exc

    return [_cell(h) for h in header], rows(), encoding


def _xlsx_rows(
    path: Path, sheet: str | None
) -> tuple[list[str], Iterator[tuple[int, list[str]]], str]:
    import openpyxl

    try:
        # openpyxl warns about styles and extensions it cannot read (files saved by WPS or
        # old Excel); the cell values it reads are unaffected, so the warnings are noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl errors alike: not a workbook we can read
        raise TrainingFileError(
            _("Cannot read %(file)s as an XLSX workbook: %(error)s") % {"file": path, "error": exc}
        ) from exc
    if sheet is not None and sheet not in book.sheetnames:
        book.close()
        raise TrainingFileError(
            _("%(file)s has no sheet %(sheet)s; its sheets are: %(sheets)s")
            % {"file": path, "sheet": repr(sheet), "sheets": ", ".join(book.sheetnames)}
        )
    worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    values = worksheet.iter_rows(values_only=True)
    try:
        header = [_cell(v) for v in next(values)]
    except StopIteration:
        book.close()
        raise TrainingFileError(_("%(file)s is empty.") % {"file": path}) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for number, record in enumerate(values, start=2):
                yield number, [_cell(v) for v in record]
        finally:
            book.close()  # read-only mode keeps the file open until closed

    return header, rows(), "XLSX"


def _column(header: list[str], name: str, path: Path) -> int:
    for index, title in enumerate(header):
        if title == name.strip():
            return index
    folded = _fold(name)
    for index, title in enumerate(header):
        if _fold(title) == folded:
            return index
    raise TrainingFileError(
        _("%(file)s has no column %(column)s; its columns are: %(columns)s")
        % {
            "file": path,
            "column": repr(name),
            "columns": ", ".join(repr(h) for h in header if h) or _("(none)"),
        }
    )


def read_labelled_file(
    path: str | Path,
    *,
    text_column: str,
    label_column: str,
    sheet: str | None = None,
    resolve: Callable[[str], str | None] | None = None,
) -> FileRead:
    """Read a CSV or XLSX file of labelled texts; labels become category codes.

    Raises `TrainingFileError` when the file cannot be read or a column is missing; rows
    without text or with an unknown label are skipped and listed in the result.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise TrainingFileError(
            _("%(file)s is an old-style .xls workbook; save it as .xlsx or .csv.") % {"file": path}
        )
    if not path.is_file():
        raise TrainingFileError(_("%(file)s does not exist.") % {"file": path})
    if suffix in XLSX_SUFFIXES:
        header, rows, encoding = _xlsx_rows(path, sheet)
    else:
        header, rows, encoding = _csv_rows(path)
    text_at = _column(header, text_column, path)
    label_at = _column(header, label_column, path)
    resolve = resolve or label_resolver()

    result = FileRead(data=LabelledTexts(), encoding=encoding)
    for number, record in rows:
        if not any(cell.strip() for cell in record):
            continue  # a blank line or an empty spreadsheet row: nothing to report
        result.rows += 1
        text = record[text_at].strip() if text_at < len(record) else ""
        label = record[label_at].strip() if label_at < len(record) else ""
        if not text:
            result.empty_texts.append(number)
            continue
        if not label:
            result.missing_labels.append(number)
            continue
        code = resolve(label)
        if code is None:
            result.unknown_labels.setdefault(label, []).append(number)
            continue
        result.data.add(text, code, f"row:{number}")
    return result


def training_data_from_orders(*, correction_weight: int = CORRECTION_WEIGHT) -> LabelledTexts:
    """Closed orders with a category and a description, plus dispatchers' corrections.

    Only active categories are learnt: the classifier must not suggest a retired one. An
    order whose latest correction names a retired category is left out altogether, since its
    own category is known to be wrong.
    """
    from yunbao.dispatch.models import Correction
    from yunbao.workorders.models import Status, WorkOrder

    active = set(Category.objects.filter(active=True).values_list("code", flat=True))
    corrections = list(
        Correction.objects.order_by("created_at", "pk").values_list(
            "order_id", "text", "corrected__code"
        )
    )
    # The latest correction of an order is its true category.
    corrected = {order_id: code for order_id, _text, code in corrections}

    data = LabelledTexts()
    orders = (
        WorkOrder.objects.filter(status=Status.CLOSED, category__isnull=False)
        .exclude(description="")
        .order_by("pk")
        .values_list("pk", "description", "category__code")
    )
    for pk, description, code in orders.iterator(chunk_size=5000):
        text, label = description.strip(), corrected.get(pk, code)
        if text and label in active:
            data.add(text, label, f"order:{pk}")
    for order_id, text, code in corrections:
        text = text.strip()
        if text and code in active:
            for _copy in range(correction_weight):
                data.add(text, code, f"order:{order_id}")
    return data
