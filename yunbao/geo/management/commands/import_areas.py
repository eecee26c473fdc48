"""`yunbao import-areas FILE.geojson`: load districts, streets, communities and grids.

Everything in the file is checked first and every problem is listed (feature index, code,
reason); with any problem nothing is imported and the command fails. Otherwise the whole
file is written in one transaction; areas whose code already exists are updated, so
importing the same file again changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from yunbao.geo.actions import GeoError, import_areas
from yunbao.geo.importing import plan_import


class Command(BaseCommand):
    # Translated when the command is loaded (after Django set up), argparse needs a str.
    help = _(
        "Import areas from a GeoJSON FeatureCollection whose feature properties give level, "
        "code, name, optional name_en and parent (the parent's code)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=_("GeoJSON file to import"))

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": path, "error": exc}
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                _("%(file)s is not valid JSON: %(error)s") % {"file": path, "error": exc}
            ) from exc

        plan = plan_import(data)
        if not plan.ok:
            for problem in plan.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                _("%(count)d problem(s) in %(file)s; nothing was imported.")
                % {"count": len(plan.problems), "file": path}
            )
        self.stdout.write(_("%(count)d features checked, importing …") % {"count": len(plan.areas)})
        try:
            result = import_areas(plan, progress=self.stdout.write)
        except GeoError as exc:
            # The database changed between the check and the write (another import?).
            raise CommandError(
                _("Import failed, nothing was imported: %(error)s") % {"error": exc}
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Imported %(file)s: %(created)d created, %(updated)d updated, "
                    "%(same)d unchanged."
                )
                % {
                    "file": path,
                    "created": result.created.total(),
                    "updated": result.updated.total(),
                    "same": result.unchanged.total(),
                }
            )
        )
