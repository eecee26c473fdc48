"""The SQLite writer queue: write transactions of different connections take turns."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction

from yunbao.catalog.models import Scene

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the queue is SQLite's"),
]


def test_it_makes_a_second_writer_wait_for_the_first() -> None:
    events: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                Scene.objects.create(code="first", name="一")
                events.append("first-begun")
                first_in.set()
                time.sleep(0.3)
                events.append("first-commit")
        finally:
            connections.close_all()

    def second() -> None:
        first_in.wait(5)
        try:
            with transaction.atomic():
                events.append("second-begun")
                Scene.objects.create(code="second", name="二")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert events == ["first-begun", "first-commit", "second-begun"]
    assert set(Scene.objects.values_list("code", flat=True)) >= {"first", "second"}


def test_it_gives_up_with_a_clear_error_after_the_timeout(settings: object) -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                Scene.objects.create(code="holder", name="占")
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"), transaction.atomic():
            Scene.objects.create(code="waiter", name="等")
        assert time.monotonic() - started < 2
    finally:
        connection.settings_dict["OPTIONS"]["timeout"] = 20
        release.set()
        thread.join(10)
    assert not Scene.objects.filter(code="waiter").exists()
