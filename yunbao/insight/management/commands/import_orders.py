"""`yunbao import-orders FILE --mapping MAPPING`: a legacy system's cases as orders.

See `yunbao.insight.importer` for the mapping's format and what each case becomes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from yunbao.insight.importer import BadRow, ImportError_, import_orders, load_mapping


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _(
        "Import a legacy system's cases (CSV or XLSX) as orders with their history, as the "
        "mapping file says; bad rows are reported by line and skipped, rows imported before "
        "are skipped, and the orders count in the indicators."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=_("the CSV or XLSX file of cases"))
        parser.add_argument("--mapping", required=True, help=_("the JSON mapping file"))
        parser.add_argument("--batch", type=int, default=500, help=_("rows per transaction"))
        parser.add_argument(
            "--progress-every",
            type=int,
            default=1000,
            help=_("print progress every N rows (default 1000)"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1 or options["progress_every"] < 1:
            raise CommandError(_("--batch and --progress-every must be at least 1."))
        quiet = options["verbosity"] == 0
        try:
            mapping = load_mapping(options["mapping"])
        except ImportError_ as exc:
            raise CommandError(str(exc)) from exc

        def on_bad(row: BadRow) -> None:
            self.stderr.write(
                _("line %(line)d%(id)s: %(reason)s")
                % {
                    "line": row.line,
                    "id": f" ({row.external_id})" if row.external_id else "",
                    "reason": row.reason,
                }
            )

        try:
            result = import_orders(
                options["file"],
                mapping,
                batch=options["batch"],
                progress_every=options["progress_every"],
                progress=None if quiet else self.stdout.write,
                on_bad=on_bad,
            )
        except ImportError_ as exc:
            raise CommandError(str(exc)) from exc
        for (name, value), n in sorted(result.defaulted.items()):
            self.stdout.write(
                _("unknown %(field)s %(value)s: %(n)d rows took the default")
                % {"field": name, "value": repr(value), "n": n}
            )
        for line, external_id in result.changed:
            self.stdout.write(
                _("line %(line)d (%(id)s): changed since it was imported, skipped")
                % {"line": line, "id": external_id}
            )
        self.stdout.write(
            _(
                "%(file)s (%(format)s): %(rows)d rows, %(imported)d imported, "
                "%(already)d already imported, %(changed)d changed (skipped), %(bad)d bad, "
                "in %(seconds).1f s"
            )
            % {
                "file": options["file"],
                "format": result.file_format,
                "rows": result.rows,
                "imported": result.imported,
                "already": result.already,
                "changed": len(result.changed),
                "bad": len(result.bad),
                "seconds": result.seconds,
            }
        )
