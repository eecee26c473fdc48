"""`yunbao serve` becomes gunicorn with the configured address and workers; `yunbao` CLI names."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.utils import translation

from yunbao import cli
from yunbao.web.management.commands import serve

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Record os.execvp calls instead of replacing the test process."""
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append((file, list(argv))))
    return calls


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Record collectstatic runs instead of copying files into STATIC_ROOT."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(serve, "call_command", lambda *args, **kw: calls.append(args))
    return calls


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_it_execs_gunicorn_with_the_configured_bind_and_workers(settings, execs, collected) -> None:
    settings.DEBUG = False
    settings.DEMO = False
    settings.YUNBAO_BIND = "127.0.0.1:8123"
    settings.YUNBAO_WEB_WORKERS = 3
    call_command("serve", stdout=StringIO())
    [(file, argv)] = execs
    assert file == GUNICORN
    assert argv[0] == GUNICORN
    assert argv[1] == "yunbao.wsgi:application"
    assert option(argv, "--bind") == "127.0.0.1:8123"
    assert option(argv, "--workers") == "3"
    assert option(argv, "--access-logfile") == "-"
    assert option(argv, "--graceful-timeout") == "30"
    # Long enough for an XLSX export of tens of thousands of orders.
    assert option(argv, "--timeout") == "120"
    assert collected == [("collectstatic",)]


def test_it_lets_options_override_the_settings(settings, execs, collected) -> None:
    settings.DEMO = False
    settings.YUNBAO_BIND = "127.0.0.1:8000"
    settings.YUNBAO_WEB_WORKERS = 2
    call_command("serve", bind="0.0.0.0:9000", workers=5, stdout=StringIO())
    [(_, argv)] = execs
    assert option(argv, "--bind") == "0.0.0.0:9000"
    assert option(argv, "--workers") == "5"


def test_it_skips_collectstatic_in_debug(settings, execs, collected) -> None:
    settings.DEBUG = True
    settings.DEMO = False
    call_command("serve", stdout=StringIO())
    assert collected == []
    assert len(execs) == 1


def test_it_refuses_zero_workers(settings, execs, collected) -> None:
    settings.DEMO = False
    with translation.override("en"), pytest.raises(CommandError, match="at least 1"):
        call_command("serve", workers=0, stdout=StringIO())
    assert execs == []


@pytest.mark.django_db
def test_it_prints_the_demo_users_password_and_address(settings, execs, collected) -> None:
    settings.DEBUG = True
    settings.DEMO = True
    settings.YUNBAO_BIND = "0.0.0.0:8000"
    settings.YUNBAO_DEMO_PASSWORD = "try-yunbao"
    dispatcher = User.objects.create_user("demo-dispatcher", password="x")
    dispatcher.groups.add(Group.objects.get_or_create(name="dispatcher")[0])
    worker = User.objects.create_user("demo-worker", password="x")
    worker.groups.add(Group.objects.get_or_create(name="worker")[0])
    User.objects.create_user("alice", password="x")
    out = StringIO()
    call_command("serve", stdout=out)
    text = out.getvalue()
    assert "try-yunbao" in text
    assert "demo-dispatcher  dispatcher" in text
    assert "demo-worker      worker" in text
    assert "alice" not in text
    assert "http://127.0.0.1:8000/" in text
    assert len(execs) == 1


@pytest.mark.django_db
def test_it_says_how_to_create_missing_demo_users(settings, execs, collected) -> None:
    settings.DEMO = True
    out = StringIO()
    call_command("serve", stdout=out)
    assert "yunbao demo" in out.getvalue()


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000/"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000/"),
        ("[::]:8000", "http://127.0.0.1:8000/"),
        ("[::1]:8080", "http://[::1]:8080/"),
        ("localhost", "http://localhost:8000/"),
        ("unix:/run/yunbao.sock", None),
    ],
)
def test_it_turns_the_bind_address_into_a_url(bind: str, url: str | None) -> None:
    assert serve.site_url(bind) == url


def test_it_passes_options_that_the_installed_gunicorn_accepts() -> None:
    # --check-config parses the options and imports the WSGI app, then exits: this catches
    # a renamed gunicorn option or a broken yunbao.wsgi without starting a server.
    argv = serve.gunicorn_argv("127.0.0.1:0", 1)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "yunbao.settings_test"}
    result = subprocess.run(
        [*argv, "--check-config"],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the `yunbao` console command ---------------------------------------------------------


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(
        "django.core.management.execute_from_command_line", lambda argv: calls.append(argv)
    )
    return calls


def test_it_passes_django_commands_through(executed: list[list[str]]) -> None:
    cli.main(["yunbao", "check"])
    assert executed == [["yunbao", "check"]]


def test_it_maps_hyphenated_names_to_our_commands(executed: list[list[str]]) -> None:
    cli.main(["/venv/bin/yunbao", "import-areas", "districts.geojson", "--dry-run"])
    assert executed == [["yunbao", "import_areas", "districts.geojson", "--dry-run"]]


def test_it_leaves_options_and_their_values_alone(executed: list[list[str]]) -> None:
    cli.main(["yunbao", "--version"])
    cli.main(["yunbao", "serve", "--bind", "unix:/run/a-b.sock"])
    assert executed == [
        ["yunbao", "--version"],
        ["yunbao", "serve", "--bind", "unix:/run/a-b.sock"],
    ]


def test_it_stops_every_child_when_one_ends() -> None:
    import sys
    import time as clock

    from yunbao.web.management.commands.serve import supervise

    started = clock.monotonic()
    code = supervise([["sleep", "20"], [sys.executable, "-c", "raise SystemExit(3)"]])
    assert code == 3
    assert clock.monotonic() - started < 10


def test_it_starts_the_task_worker_with_this_python() -> None:
    import sys

    from yunbao.web.management.commands.serve import worker_argv

    argv = worker_argv()
    assert argv[0] == sys.executable
    assert argv[-1] == "worker"  # `yunbao worker`: the tasks and the periodic scheduler
