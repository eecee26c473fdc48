"""What every benchmark needs: Django set up on a throwaway database, removed afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# SQLite's own files beside the database, and the writer queue's lock (yunbao/lib/sqlite).
SQLITE_FILES = ("", "-wal", "-shm", ".writelock")


@contextmanager
def throwaway_database(name: str, url: str | None = None) -> Iterator[None]:
    """Set up Django on a migrated, empty database: a SQLite file under var/ named after the
    benchmark and this process (deleted at the end), or the server database `url` (recreated
    empty first)."""
    database = BASE_DIR / "var" / f"bench-{name}-{os.getpid()}.sqlite3"
    if url:
        from bench.transitions import prepare_database

        prepare_database(url)
    else:
        database.parent.mkdir(parents=True, exist_ok=True)
    try:
        with existing_database(url or f"sqlite:///{database}"):
            yield
    finally:
        if not url:
            for suffix in SQLITE_FILES:
                Path(f"{database}{suffix}").unlink(missing_ok=True)


@contextmanager
def existing_database(url: str) -> Iterator[None]:
    """Set up Django on the database `url` as it is (migrated, nothing deleted)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "yunbao.settings_test"
    os.environ["DATABASE_URL"] = url
    import django
    from django.core.management import call_command

    django.setup()
    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
