"""Loading generated history fast on PostgreSQL: COPY text, a writer thread, and the
secondary indexes and foreign keys set aside during a big load.

Three costs dominated `yunbao.insight.generate` on PostgreSQL (50,000 orders, cProfile):
psycopg's per-value COPY adaptation (about a third of the run), the server's work on the
rows (15 indexes on the order table, 4 on the timeline, the deferred foreign-key checks at
commit, the aggregate upserts) while Python waited, and the aggregates in Python. This
module takes the first two:

- `line()` writes a row as COPY text with one dispatch per value by exact type: about
  four times cheaper than `Copy.write_row` behind `bulk.insert_rows`' adaptation.
- `Writer` runs the COPYs and statements in a second thread on the same session (so in the
  same transaction): PostgreSQL ingests one batch while Python builds the next. With two
  cores this is where the time goes from a sum to a maximum.
- `set_aside()` drops the non-unique indexes and the foreign keys of some tables for the
  block and creates them again after it: one sorted build per index and one join per key
  instead of a btree insertion and a trigger event per row. The definitions are read from
  the catalogue, so they follow the migrations. PostgreSQL's DDL is transactional: inside
  the caller's transaction, a failure rolls the drops back with the rows.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Model

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def text(value: str) -> str:
    """A string as a COPY text field (backslash, tab and line breaks escaped)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _json(value: Any) -> str:
    return text(json.dumps(value, ensure_ascii=False))


# By exact type, as in `bulk._SQLITE_TEXT`: bool before int matters only for isinstance.
# An aware datetime's str() is ISO 8601 with its offset, which PostgreSQL reads exactly; a
# float's repr() is the shortest text that reads back to the same double.
_TEXT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    float: float.__repr__,
    str: text,
    bool: lambda v: "t" if v else "f",
    type(None): lambda _v: NULL,
    dt.datetime: dt.datetime.__str__,
    dt.date: dt.date.isoformat,
    Decimal: Decimal.__str__,
    dict: _json,
    list: _json,
}


def field(value: Any) -> str:
    """One value as a COPY text field."""
    convert = _TEXT.get(type(value))
    if convert is None:
        convert = _TEXT[type(value)] = _converter(type(value))
    return convert(value)


def _converter(kind: type) -> Callable[[Any], str]:
    # Subclasses: str enums (TextChoices, whose str() is the value), int enums.
    if issubclass(kind, str):
        return lambda v: text(str.__str__(v))
    if issubclass(kind, bool):
        return _TEXT[bool]
    if issubclass(kind, int):
        return lambda v: int.__repr__(int(v))
    raise TypeError(f"no COPY text for {kind.__name__}")


def line(values: Sequence[Any]) -> str:
    """A row as one line of COPY text, newline included."""
    return "\t".join([field(v) for v in values]) + "\n"


class Writer:
    """COPYs and statements run in order by a thread on the caller's database session.

    The thread uses the same psycopg connection (its lock serialises the two threads), so
    everything it runs is part of the caller's transaction; the caller does not use the
    connection while jobs are pending except through `drain()`. At most `depth` jobs wait:
    Python runs ahead of the server by that many batches, no further. The first error stops
    the remaining jobs and is raised by the next `copy`, `execute` or `drain`.
    """

    def __init__(self, depth: int = 2) -> None:
        connection.ensure_connection()
        self._raw = connection.connection
        self._jobs: queue.Queue[tuple[str, Callable[[], None]] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        # Seconds the server spent per kind of job (COPY into a table, statements).
        self.busy: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="bulk-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None and not self._closed:
                    label, run = job
                    started = time.perf_counter()
                    run()
                    self.busy[label] = self.busy.get(label, 0.0) + time.perf_counter() - started
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                self._jobs.task_done()

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def copy(self, table: str, columns: Sequence[str], data: str) -> None:
        """Append COPY text `data` (lines from `line()`) to `table`."""
        self._check()
        if not data:
            return
        # Table and column names are the caller's constants; the values are COPY data.
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"

        def job() -> None:
            with self._raw.cursor() as cursor, cursor.copy(sql) as copy:
                copy.write(data)

        self._jobs.put((f"copy {table}", job))

    def execute(self, label: str, *statements: str) -> None:
        """Run these statements (no parameters) in order; `label` names them in `busy`."""
        self._check()

        def job() -> None:
            with self._raw.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)

        self._jobs.put((label, job))

    def drain(self) -> None:
        """Wait until every job has run; raise the first error."""
        self._jobs.join()
        self._check()

    def close(self) -> None:
        """Stop the thread without raising: after the job running, skipping those queued
        (after `drain()` there are none; after an error they would be rolled back)."""
        self._closed = True
        self._jobs.put(None)
        self._thread.join()


def _tables(models: Sequence[type[Model]]) -> list[str]:
    return [m._meta.db_table for m in models]


@contextmanager
def set_aside(
    models: Sequence[type[Model]], progress: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Without the non-unique indexes and the foreign keys of these models' tables for the
    block (PostgreSQL; elsewhere a no-op). Primary keys and unique constraints stay, so the
    rows are still checked for them as they come.

    Only inside a transaction (the rows and the drops commit together or not at all). The
    rebuild runs when the block ends without error; after an error the caller's rollback
    restores the indexes and keys.
    """
    if connection.vendor != "postgresql" or not models:
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("set_aside() needs a transaction: the rollback restores the indexes")
    tables = _tables(models)
    with connection.cursor() as cursor:
        # Indexes that no constraint of their table owns (a foreign key's conindid is the
        # referenced table's index, hence the conrelid), and not unique.
        cursor.execute(
            "SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, "
            "pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisunique "
            "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
            "ORDER BY 1, 2",
            [tables],
        )
        indexes: list[tuple[str, str, str]] = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) "
            "ORDER BY 1, 2",
            [tables],
        )
        keys: list[tuple[str, str, str]] = cursor.fetchall()
        # PostgreSQL alters no table with foreign-key checks pending in the transaction
        # (rows the caller wrote before, on either side of a key): run them now, as the
        # commit would (a violation raises here instead), then defer again as Django's keys
        # are declared.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        # Names from the catalogue, quoted as PostgreSQL gives them (regclass text).
        for _table, index, _definition in indexes:
            cursor.execute(f"DROP INDEX {index}")
        for table, name, _definition in keys:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    if progress:
        progress(f"set aside {len(indexes)} indexes and {len(keys)} foreign keys")
    yield
    with connection.cursor() as cursor:
        # A sort per index: the more memory, the fewer passes (this transaction only).
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for _table, index, definition in indexes:
            if progress:
                progress(f"building index {index}…")
            cursor.execute(definition)
        for table, name, definition in keys:
            if progress:
                progress(f"checking foreign key {name}…")
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


__all__ = ["NULL", "Writer", "field", "line", "set_aside", "text"]
