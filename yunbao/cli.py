"""The `yunbao` console command: Django's management commands under one friendly name.

`yunbao serve`, `yunbao demo`, `yunbao import-areas FILE` … map to the management commands
`serve`, `demo`, `import_areas`; anything else (`migrate`, `createsuperuser`) passes through.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yunbao.settings")
    if len(args) > 1 and not args[1].startswith("-"):
        # Friendly hyphenated names for our own commands; Django's use underscores.
        args[1] = args[1].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["yunbao", *args[1:]])


if __name__ == "__main__":
    main()
