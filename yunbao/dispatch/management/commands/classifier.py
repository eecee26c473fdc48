"""`yunbao classifier …`: train, evaluate, list and switch the category classifier's versions.

    yunbao classifier train --file F.csv --text-column 描述 --label-column 类别 [--activate]
    yunbao classifier train --from-orders [--activate]
    yunbao classifier train --from-catalogue [--activate]
    yunbao classifier evaluate --file F.xlsx --text-column C --label-column L --folds 5
    yunbao classifier evaluate --from-orders
    yunbao classifier list
    yunbao classifier activate 3
    yunbao classifier retrain

`retrain` is what the periodic task runs: it stores a new version trained on closed orders and
corrections and makes it active only if it scores better on held-out orders. File formats and
labels are described in `yunbao.dispatch.training`.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from yunbao.catalog.models import Category
from yunbao.dispatch import classifier
from yunbao.dispatch.models import ClassifierModel
from yunbao.dispatch.training import (
    FileRead,
    LabelledTexts,
    TrainingFileError,
    read_labelled_file,
    training_data_from_orders,
)

# Up to this many categories the confusion matrix is printed whole (about 100 columns).
FULL_MATRIX_UP_TO = 12
# Rows listed per problem before "… and N more".
ROWS_SHOWN = 10


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _rows(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:ROWS_SHOWN])
    if len(numbers) > ROWS_SHOWN:
        shown += " " + _("… and %(count)d more") % {"count": len(numbers) - ROWS_SHOWN}
    return shown


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _("Train, evaluate, list and activate versions of the category classifier.")

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        train = actions.add_parser(
            "train", help=_("train a new version from a labelled file, the orders or keywords")
        )
        self._data_arguments(train, catalogue=True)
        train.add_argument(
            "--activate", action="store_true", help=_("make the new version the active one")
        )
        train.add_argument("--note", default="", help=_("a note stored with the version"))

        evaluate = actions.add_parser(
            "evaluate", help=_("cross-validate on a labelled file or the orders; stores nothing")
        )
        self._data_arguments(evaluate, catalogue=False)
        evaluate.add_argument("--folds", type=int, default=5, help=_("number of folds (5)"))
        evaluate.add_argument(
            "--full-matrix",
            action="store_true",
            help=_("print the whole confusion matrix even for many categories"),
        )

        actions.add_parser("list", help=_("list the stored versions"))

        activate = actions.add_parser("activate", help=_("make a stored version the active one"))
        activate.add_argument("version", type=int, help=_("version number"))

        retrain = actions.add_parser(
            "retrain",
            help=_("train on orders and corrections; activate only if better on held-out orders"),
        )
        retrain.add_argument(
            "--min-gain",
            type=float,
            default=None,
            help=_("required macro-F1 gain (default: CLASSIFIER_MIN_GAIN)"),
        )

    def _data_arguments(self, parser: CommandParser, *, catalogue: bool) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help=_("labelled CSV (UTF-8 or GBK) or XLSX file"))
        source.add_argument(
            "--from-orders", action="store_true", help=_("closed orders and corrections")
        )
        if catalogue:
            source.add_argument(
                "--from-catalogue",
                action="store_true",
                help=_("the catalogue's names and keywords (the cold-start model)"),
            )
        parser.add_argument("--text-column", help=_("column holding the text (with --file)"))
        parser.add_argument("--label-column", help=_("column holding the category"))
        parser.add_argument("--sheet", help=_("XLSX sheet (default: the first)"))

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "train":
                self._train(options)
            elif action == "evaluate":
                self._evaluate(options)
            elif action == "list":
                self._list()
            elif action == "activate":
                self._activate(options["version"])
            elif action == "retrain":
                self._retrain(options["min_gain"])
        except (TrainingFileError, classifier.TrainingError, LookupError) as exc:
            raise CommandError(str(exc)) from exc

    def _say(self, line: str) -> None:
        self.stdout.write(f"  {line}")

    # --- reading ------------------------------------------------------------------------------

    def _read(self, options: dict[str, Any]) -> tuple[LabelledTexts, str]:
        """The labelled texts the options name, and where they came from."""
        if options.get("from_orders"):
            self.stdout.write(_("Reading closed orders and corrections …"))
            data = training_data_from_orders()
            self._say(
                _("%(count)d samples in %(categories)d categories")
                % {"count": len(data), "categories": len(data.counts())}
            )
            return data, ClassifierModel.Source.ORDERS
        if not options["text_column"] or not options["label_column"]:
            raise CommandError(_("--file needs --text-column and --label-column."))
        self.stdout.write(_("Reading %(file)s …") % {"file": options["file"]})
        read = read_labelled_file(
            options["file"],
            text_column=options["text_column"],
            label_column=options["label_column"],
            sheet=options["sheet"],
        )
        self._report_read(read)
        return read.data, ClassifierModel.Source.FILE

    def _report_read(self, read: FileRead) -> None:
        self._say(
            _("%(rows)d rows (%(encoding)s): %(used)d used in %(categories)d categories")
            % {
                "rows": read.rows,
                "encoding": read.encoding,
                "used": len(read.data),
                "categories": len(read.data.counts()),
            }
        )
        if read.empty_texts:
            self.stderr.write(
                _("Skipped %(count)d rows without text: rows %(rows)s")
                % {"count": len(read.empty_texts), "rows": _rows(read.empty_texts)}
            )
        if read.missing_labels:
            self.stderr.write(
                _("Skipped %(count)d rows without a label: rows %(rows)s")
                % {"count": len(read.missing_labels), "rows": _rows(read.missing_labels)}
            )
        for label, rows in sorted(read.unknown_labels.items(), key=lambda item: item[1][0]):
            self.stderr.write(
                _("Skipped %(count)d rows with the unknown label %(label)s: rows %(rows)s")
                % {"count": len(rows), "label": repr(label), "rows": _rows(rows)}
            )

    # --- actions ------------------------------------------------------------------------------

    def _train(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        activate, note = options["activate"], options["note"]
        if options.get("from_catalogue"):
            self.stdout.write(_("Training on the catalogue's names and keywords …"))
            model, samples = classifier.build_cold_start()
            # Scored on its own sentences it would look perfect: no metrics instead.
            metrics: dict[str, Any] = {"samples": samples}
            source: str = ClassifierModel.Source.KEYWORDS
        else:
            data, source = self._read(options)
            by_key = source == ClassifierModel.Source.ORDERS
            model, report = classifier.train_and_score(
                data, source=source, by_key=by_key, progress=self._say
            )
            if report is None:
                metrics, samples = {"held_out": 0}, len(data)
            else:
                metrics = report.as_metrics() | {"held_out": report.samples}
                samples = len(data) - report.samples if by_key else len(data)
            if source == ClassifierModel.Source.FILE:
                note = note or str(options["file"])[-200:]
        row = classifier.save_model(
            model, source=source, samples=samples, metrics=metrics, activate=activate, note=note
        )
        state = _("active") if row.active else _("not active")
        self.stdout.write(
            self.style.SUCCESS(
                _("Stored version %(v)d (%(state)s), %(samples)d samples, in %(seconds).0f s.")
                % {
                    "v": row.version,
                    "state": state,
                    "samples": row.samples,
                    "seconds": time.perf_counter() - started,
                }
            )
        )

    def _evaluate(self, options: dict[str, Any]) -> None:
        data, source = self._read(options)
        folds = options["folds"]
        self.stdout.write(
            _("%(folds)d-fold stratified cross-validation on %(count)d texts …")
            % {"folds": folds, "count": len(data)}
        )
        # An order's samples (its text and repeated corrections) stay in one fold.
        groups = data.keys if source == ClassifierModel.Source.ORDERS else None
        report = classifier.evaluate(
            data.texts, data.labels, folds, groups=groups, progress=self._say
        )
        for code, count in report.dropped.items():
            self.stderr.write(
                _("Left out %(code)s: %(count)d texts, fewer than the %(folds)d folds need.")
                % {"code": code, "count": count, "folds": folds}
            )
        spread = report.fold_macro_f1
        self.stdout.write("")
        self.stdout.write(_("accuracy   %(value).3f") % {"value": report.accuracy})
        self.stdout.write(
            _("macro-F1   %(value).3f (folds %(low).3f–%(high).3f)")
            % {"value": report.macro_f1, "low": min(spread), "high": max(spread)}
        )
        self.stdout.write(_("samples    %(count)d") % {"count": report.samples})
        self.stdout.write("")
        self._per_class(report)
        self.stdout.write("")
        self._confusion(report, full=options["full_matrix"])

    def _per_class(self, report: classifier.Report) -> None:
        names = dict(Category.objects.values_list("code", "name"))
        head = (_("category"), _("precision"), _("recall"), _("F1"), _("support"))
        first = max([_width(head[0]), *(len(k) for k in report.per_class)])
        widths = [first, *(max(_width(h), 9) for h in head[1:])]

        def line(cells: Sequence[str], name: str = "") -> str:
            text = cells[0] + " " * (widths[0] - _width(cells[0]))
            for cell, width in zip(cells[1:], widths[1:], strict=True):
                text += "  " + " " * (width - _width(cell)) + cell
            return f"{text}  {name}".rstrip()

        self.stdout.write(line(head))
        for key, values in report.per_class.items():
            if not isinstance(values, dict):
                continue  # "accuracy": a bare number, printed above
            if key == "macro avg":
                self.stdout.write("")
            cells = [
                key,
                f"{values['precision']:.3f}",
                f"{values['recall']:.3f}",
                f"{values['f1-score']:.3f}",
                f"{values['support']:.0f}",
            ]
            self.stdout.write(line(cells, names.get(key, "")))

    def _confusion(self, report: classifier.Report, *, full: bool) -> None:
        labels, matrix = report.labels, report.confusion
        if full or len(labels) <= FULL_MATRIX_UP_TO:
            self.stdout.write(_("Confusion matrix (rows: true category, columns: predicted):"))
            width = max(
                6, *(len(label) for label in labels), *(len(str(v)) for r in matrix for v in r)
            )
            self.stdout.write(" " * width + "".join(f" {label:>{width}}" for label in labels))
            for label, row in zip(labels, matrix, strict=True):
                cells = "".join(f" {value if value else '.':>{width}}" for value in row)
                self.stdout.write(f"{label:<{width}}{cells}")
            return
        self.stdout.write(
            _(
                "Confusion matrix, compact (%(count)d categories): per true category, the "
                "texts predicted right, then where the others went:"
            )
            % {"count": len(labels)}
        )
        for i, (label, row) in enumerate(zip(labels, matrix, strict=True)):
            total = sum(row)
            if not total:
                continue  # a category only ever predicted, never true
            wrong = sorted(
                ((value, labels[j]) for j, value in enumerate(row) if value and j != i),
                reverse=True,
            )
            cells = ", ".join(f"{code} ×{value}" for value, code in wrong)
            right = f"{row[i]}/{total}"
            self.stdout.write(f"{label:<8} {right:>11}  {cells}".rstrip())

    def _list(self) -> None:
        rows = ClassifierModel.objects.defer("blob").order_by("-version")
        if not rows:
            self.stdout.write(
                _("No stored versions: the cold-start model from the catalogue keywords is used.")
            )
            return
        head = (
            _("version"),
            _("source"),
            _("trained at"),
            _("samples"),
            _("accuracy"),
            _("macro-F1"),
            _("note"),
        )
        table = [head]
        for row in rows:
            metrics = row.metrics or {}

            def number(key: str, metrics: dict[str, Any] = metrics) -> str:
                value = metrics.get(key)
                return f"{value:.3f}" if isinstance(value, int | float) else "–"

            table.append(
                (
                    f"{'*' if row.active else ' '} {row.version}",
                    row.source,
                    timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M"),
                    str(row.samples),
                    number("accuracy"),
                    number("macro_f1"),
                    row.note,
                )
            )
        widths = [max(_width(r[i]) for r in table) for i in range(len(head) - 1)]
        for cells in table:
            text = "  ".join(
                cell + " " * (width - _width(cell))
                for cell, width in zip(cells[:-1], widths, strict=True)
            )
            self.stdout.write(f"{text}  {cells[-1]}".rstrip())
        if not any(row.active for row in rows):
            self.stdout.write(
                _("No version is active: the cold-start model from the catalogue keywords is used.")
            )
        else:
            self.stdout.write(_("* active"))

    def _activate(self, version: int) -> None:
        row = classifier.activate(version)
        self.stdout.write(
            self.style.SUCCESS(_("Version %(v)d is now active.") % {"v": row.version})
        )

    def _retrain(self, min_gain: float | None) -> None:
        self.stdout.write(_("Retraining on closed orders and corrections …"))
        result = classifier.retrain_and_maybe_promote(min_gain=min_gain, progress=self._say)
        style = self.style.SUCCESS if result.promoted else self.style.WARNING
        self.stdout.write(style(result.reason))
