"""Django's SQLite backend, plus an inter-process writer lock around write transactions.

SQLite lets one writer in at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps in growing steps (up to 100 ms) and can lose the race again and
again while other processes keep writing: under steady load a few requests waited more than
a second (measured with `bench/intake.py`, p99 1.2 s at four concurrent reporters). Here
every `atomic()` write transaction first takes an exclusive `flock` on a file beside the
database, polling every millisecond, so waiting writers get in within milliseconds of each
other's commits and SQLite's own lock is then free. Reads (WAL) never wait. Single
statements outside `atomic()` still use SQLite's busy timeout; they hold the lock briefly.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

POLL_SECONDS = 0.001


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_fd: int | None = None
    _writer_held = False

    def _lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        if self.is_in_memory_db() or not name:
            return None
        return f"{name}.writelock"

    def _acquire_writer(self) -> None:
        path = self._lock_path()
        if path is None or self._writer_held:
            return
        if self._writer_fd is None:
            self._writer_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._writer_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._writer_held = True
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OperationalError("database is locked (writer queue)") from None
                time.sleep(POLL_SECONDS)

    def _release_writer(self) -> None:
        if self._writer_held and self._writer_fd is not None:
            fcntl.flock(self._writer_fd, fcntl.LOCK_UN)
        self._writer_held = False

    def _start_transaction_under_autocommit(self) -> None:
        self._acquire_writer()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._release_writer()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self._release_writer()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self._release_writer()
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None
