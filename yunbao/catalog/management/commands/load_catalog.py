"""`yunbao load-catalog [FILE]`: create or update the catalogue from a JSON document."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from yunbao.catalog import cache
from yunbao.catalog.loader import CATALOG_PATH, load_catalog, read_catalog


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _(
        "Create or update scenes, categories and time limits from a catalogue JSON document "
        "(default: the shipped %(file)s). Rows are matched by code; categories edited in the "
        "admin are overwritten by the document's values, except 'active'."
    ) % {"file": CATALOG_PATH.name}

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help=_("catalogue JSON document"))

    def handle(self, *args: Any, file: str | None = None, **options: Any) -> None:
        try:
            data = read_catalog(file)
            summary = load_catalog(data)
            cache.clear()  # this process serves the new catalogue at once
        except OSError as exc:
            raise CommandError(
                _("cannot read %(file)s: %(error)s") % {"file": file or CATALOG_PATH, "error": exc}
            ) from exc
        except ValueError as exc:  # CatalogError, and JSONDecodeError for broken JSON
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(summary))
        if not summary.changed:
            self.stdout.write(_("The catalogue was already up to date."))
