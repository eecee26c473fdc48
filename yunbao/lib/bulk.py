"""Writing many rows at once below the ORM: PostgreSQL's COPY, SQLite's `executemany`.

For history that is generated or imported in bulk, where the ORM's per-field preparation
costs more than the database's work (a million orders through `bulk_create` took half an
hour, most of it in `get_db_prep_save`). Values are plain Python: aware datetimes, dates,
numbers, strings, bools, None, and dicts or lists for JSON columns. No model code runs
(no defaults, no `auto_now`): the caller gives every column.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Model
from psycopg.types.json import Jsonb


@lru_cache(maxsize=8192)  # many rows share a second
def sqlite_time(value: dt.datetime) -> str:
    """A datetime as Django stores it in SQLite (naive UTC text), so that string order is
    time order and the ORM reads it back."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return str(value.replace(tzinfo=None))


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# By exact type (a dispatch per value is the writer's inner loop): what SQLite stores for
# the values its driver does not take as they are. A date is not a datetime here.
_SQLITE_TEXT: dict[type, Any] = {
    dt.datetime: sqlite_time,
    dt.date: dt.date.isoformat,
    dict: _json_text,
    list: _json_text,
}


def _sqlite_value(value: Any) -> Any:
    convert = _SQLITE_TEXT.get(type(value))
    return value if convert is None else convert(value)


def _postgres_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


def insert_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Append `rows` (one value per column, in order) to `table`; returns how many."""
    n = 0
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        # Table and column names are the caller's constants; values go through COPY.
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([_postgres_value(v) for v in row])
                n += 1
        return n
    marks = ", ".join(["%s"] * len(columns))
    batch: list[list[Any]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append([_sqlite_value(v) for v in row])
            if len(batch) >= 5000:
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)  # noqa: S608
                n += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)  # noqa: S608
            n += len(batch)
    return n


def next_ids(model: type[Model], count: int) -> range:
    """`count` primary keys after the table's highest, for rows written with explicit ids
    (call `reset_sequence` after writing them). The caller holds the table: bulk history is
    written by one process."""
    table = model._meta.db_table
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX({pk.column}), 0) FROM {table}")  # noqa: S608
        (top,) = cursor.fetchone()
    return range(top + 1, top + 1 + count)


def reset_sequence(model: type[Model]) -> None:
    """Move PostgreSQL's id sequence past the ids written explicitly (SQLite needs nothing:
    its next rowid follows the highest)."""
    if connection.vendor != "postgresql":
        return
    statements = connection.ops.sequence_reset_sql(no_style(), [model])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


__all__ = ["insert_rows", "next_ids", "reset_sequence", "sqlite_time"]
