"""Every setting Yunbao reads from the environment, declared once with its default and help.

`yunbao.settings` reads these and nothing else from the environment, so this tuple is the
complete list; `docs/configuration.md` documents each one and a test fails when one is
missing there (the Datasette pattern: settings as data).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r} (use true/false)")


def parse_optional_bool(raw: str) -> bool | None:
    """A boolean, or None when empty (the setting then follows another one)."""
    return parse_bool(raw) if raw.strip() else None


def parse_working_hours(raw: str) -> str:
    """Checked at start-up so a typo fails early, kept as text for the calendar."""
    from yunbao.lib.worktime import parse_working_hours as parse

    parse(raw)
    return raw


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value

    return parse


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_share(raw: str) -> float:
    """A share strictly between 0 and 1 (0 would warn at once, 1 only at the deadline)."""
    value = float(raw)
    if not 0 < value < 1:
        raise ValueError(f"{raw!r} is not between 0 and 1")
    return value


def parse_positive(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"{raw!r} is not a positive number")
    return value


def parse_non_negative(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # NaN fails too
        raise ValueError(f"{raw!r} is not a number of at least 0")
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str

    def read(self, environ: dict[str, str] | os._Environ[str] | None = None) -> Any:
        env = os.environ if environ is None else environ
        raw = env.get(self.name)
        file_name = env.get(f"{self.name}_FILE")
        if raw is None and file_name:
            # Secrets may come from a file (Docker/Kubernetes secrets), as healthchecks does.
            try:
                raw = Path(file_name).read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"setting {self.name}_FILE: cannot read {file_name}: {exc}"
                ) from exc
        if raw is None:
            raw = self.default
        try:
            return self.parse(raw)
        except ValueError as exc:
            raise ValueError(f"setting {self.name}: {exc}") from exc


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "YUNBAO_DEMO",
        "false",
        "Demo mode: debug pages, demo users printed on start, "
        "a generated secret key. Never in production.",
        parse_bool,
    ),
    Setting(
        "DEBUG",
        "",
        "Django debug pages. Defaults to on in demo mode and off otherwise.",
        parse_optional_bool,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Django's signing key. Required outside demo mode; "
        "`SECRET_KEY_FILE` may name a file holding it.",
    ),
    Setting(
        "ALLOWED_HOSTS", "127.0.0.1,localhost", "Comma-separated host names served.", parse_list
    ),
    Setting(
        "CSRF_TRUSTED_ORIGINS",
        "",
        "Comma-separated origins (scheme://host) trusted for CSRF behind a proxy.",
        parse_list,
    ),
    Setting(
        "DATABASE_URL",
        "sqlite:///var/yunbao.sqlite3",
        "Database: `sqlite:///relative/"
        "path` (embedded default) or `postgres://user@host:port/name`.",
    ),
    Setting("SQLITE_BUSY_TIMEOUT", "20", "Seconds a SQLite writer waits for the lock.", float),
    Setting(
        "TIME_ZONE",
        "Asia/Shanghai",
        "Time zone for display and working hours; the database always stores UTC.",
    ),
    Setting("LANGUAGE_CODE", "zh-hans", "Default language: `zh-hans` or `en`."),
    Setting(
        "WORKING_HOURS",
        "08:30-12:00,14:00-17:30",
        "Working-time intervals of a working "
        "day, local time, used for deadlines counted in working hours or days.",
        parse_working_hours,
    ),
    Setting(
        "H3_RESOLUTION",
        "10",
        "H3 resolution of the cell stored with every point (10 ≈ 66 m edge).",
        int,
    ),
    Setting(
        "GEO_CACHE_SECONDS",
        "5",
        "How often (s) a process checks whether areas changed "
        "and its spatial index must be rebuilt.",
        float,
    ),
    Setting("MEDIA_ROOT", "var/media", "Where uploaded photos are stored (local storage)."),
    Setting("STATIC_ROOT", "var/static", "Where `collectstatic` gathers static files."),
    Setting(
        "STORAGE_BACKEND",
        "django.core.files.storage.FileSystemStorage",
        "Django storage class for photos; an S3-compatible backend by configuration.",
    ),
    Setting("LOG_LEVEL", "INFO", "Log level of Yunbao's own loggers."),
    Setting(
        "SECURE_COOKIES",
        "",
        "Send session and CSRF cookies over HTTPS only. Defaults to on outside demo/debug.",
        parse_optional_bool,
    ),
    Setting("BIND", "127.0.0.1:8000", "Address `yunbao serve` listens on."),
    Setting("WEB_WORKERS", "2", "Number of gunicorn worker processes for `yunbao serve`.", int),
    Setting("DEMO_PASSWORD", "yunbao-demo", "Password of the demo users (demo mode only)."),
    Setting("PHOTO_MAX_BYTES", "15000000", "Largest photo upload accepted, in bytes.", int),
    Setting(
        "PHOTO_MAX_PIXELS",
        "80000000",
        "Largest photo accepted, in pixels (width × height), at most Pillow's own 89 MP "
        "guard; guards against decompression bombs.",
        int,
    ),
    Setting(
        "PHOTO_MAX_SIDE",
        "2048",
        "Longest side (px) of the stored photo; larger photos are scaled down.",
        int,
    ),
    Setting(
        "PHOTO_OLD_DAYS",
        "3",
        "A photo taken more than this many days before the report is flagged as old.",
        int,
    ),
    Setting("REPORT_MAX_PHOTOS", "6", "Photos per report.", int),
    Setting(
        "OUTSIDE_AREA_POLICY",
        "refuse",
        "What to do with a report outside every grid: "
        "`refuse` it with a clear message, or `accept` it for the dispatcher.",
        parse_choice("refuse", "accept"),
    ),
    Setting(
        "DEDUPE_RADIUS_M",
        "150",
        "Open orders of the same category within this many metres are duplicate candidates.",
        float,
    ),
    Setting("DEDUPE_WINDOW_HOURS", "72", "…and reported within this many hours.", float),
    Setting(
        "DEDUPE_AUTO_MERGE_SCORE",
        "0.85",
        "Score (0–1) from which a new report is merged automatically into an open order.",
        float,
    ),
    Setting(
        "DEDUPE_SUGGEST_SCORE",
        "0.5",
        "Score (0–1) from which a likely duplicate is shown to the dispatcher.",
        float,
    ),
    Setting(
        "AUTO_DISPATCH",
        "true",
        "Accept and dispatch automatically when the machine is "
        "sure (see the dispatch docs); false sends everything to the dispatcher.",
        parse_bool,
    ),
    Setting(
        "AUTO_DISPATCH_THRESHOLD",
        "0.8",
        "Classifier confidence (0–1) from which an order "
        "may be dispatched automatically, unless a category sets its own.",
        float,
    ),
    Setting(
        "CLASSIFIER_MIN_GAIN",
        "0.0",
        "A retrained classifier replaces the active one only "
        "if its held-out macro-F1 is higher by more than this.",
        float,
    ),
    Setting(
        "TASK_BACKEND",
        "database",
        "Where background tasks run: `database` (the embedded default: a table and "
        "`yunbao worker`), `redis` (RQ on REDIS_URL, for production) or `immediate` "
        "(inline, for tests).",
        parse_choice("database", "redis", "immediate"),
    ),
    # --- Background jobs (yunbao.jobs): add job settings below this line. ---
    Setting(
        "REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis server (and database number) of the task queue when TASK_BACKEND is `redis`.",
    ),
    Setting(
        "SCHEDULER_TICK_SECONDS",
        "5",
        "Seconds between two looks of the periodic scheduler (in `yunbao worker`) at its "
        "schedule; a periodic task starts at most this late.",
        float,
    ),
    Setting(
        "JOB_HISTORY_DAYS",
        "7",
        "Days the record of periodic runs and finished task results are kept.",
        int,
    ),
    # --- Notifications (yunbao.notify): add notification settings below this line. ---
    Setting(
        "PUBLIC_URL",
        "http://127.0.0.1:8000",
        "Address of this site as people reach it (scheme://host[:port]), "
        "for the links in notifications.",
    ),
    Setting(
        "EMAIL_URL",
        "",
        "Mail server for the email channel: smtp://, smtp+tls:// or smtps://"
        "user:password@host:port, or console://; empty turns email off.",
    ),
    Setting("EMAIL_FROM", "yunbao@localhost", "Sender address of notification mails."),
    Setting(
        "NOTIFY_MAX_ATTEMPTS",
        "8",
        "Tries of one notification before it is given up (status dead).",
        int,
    ),
    Setting(
        "NOTIFY_BACKOFF_SECONDS",
        "30",
        "Wait (s) after the first failed try; doubled after each further failure.",
        float,
    ),
    Setting(
        "NOTIFY_BACKOFF_MAX_SECONDS",
        "3600",
        "Longest wait (s) between two tries of one notification.",
        float,
    ),
    Setting(
        "NOTIFY_TIMEOUT",
        "10",
        "Seconds a delivery (HTTP request, SMTP step) may take before it counts as failed.",
        float,
    ),
    Setting(
        "NOTIFY_LEASE_SECONDS",
        "300",
        "A notification still marked sending after this many seconds was interrupted "
        "(a crash); must exceed NOTIFY_TIMEOUT.",
        float,
    ),
    Setting(
        "NOTIFY_ALLOW_HTTP",
        "false",
        "Accept plain-http webhook URLs to this machine (localhost, 127.0.0.1), "
        "for local receivers and tests; https is always required elsewhere.",
        parse_bool,
    ),
    # --- Time limits (yunbao.sla): add SLA settings below this line. ---
    Setting(
        "SLA_WARN_SHARE",
        "0.8",
        "Share (0 to 1, exclusive) of a stage's time limit after which an order is "
        '"about to be overdue" and its worker is warned once.',
        parse_share,
    ),
    Setting(
        "SLA_ESCALATE2_SHARE",
        "0.5",
        "Once overdue by this further share of the stage's time limit, an order is escalated "
        "a second time, to the district managers.",
        parse_positive,
    ),
    Setting(
        "SLA_SWEEP_BATCH",
        "1000",
        "Alerts the time-limit sweep writes per transaction.",
        int,
    ),
    # --- Fleet, gateway and attendance (yunbao.fleet): add fleet settings below this line. ---
    Setting(
        "FLEET_GATEWAY_HOST",
        "127.0.0.1",
        "Address `yunbao gateway` listens on for terminals and trackers (0.0.0.0: every "
        "interface).",
    ),
    Setting("FLEET_JT808_PORT", "5015", "TCP port of the JT/T 808 terminal gateway.", int),
    Setting("FLEET_OSMAND_PORT", "5055", "HTTP port of the OsmAnd (Traccar Client) gateway.", int),
    Setting(
        "FLEET_UNKNOWN_DEVICES",
        "",
        "What the gateway does with a device it does not know: `refuse` it or `register` it; "
        "empty means `register` in demo mode and `refuse` otherwise.",
        parse_choice("", "refuse", "register"),
    ),
    Setting(
        "FLEET_IDLE_TIMEOUT",
        "300",
        "Seconds a terminal connection may stay silent (no data, not even a heartbeat) before "
        "the gateway closes it.",
        parse_positive,
    ),
    Setting(
        "FLEET_RETENTION_DAYS",
        "180",
        "Days of position history kept; older days are dropped by the nightly job.",
        int,
    ),
    Setting(
        "FLEET_MAX_CONNECTIONS",
        "10000",
        "Most terminal and tracker connections the gateway holds at once; more are refused.",
        int,
    ),
    Setting(
        "FLEET_BATCH_ROWS",
        "2000",
        "The gateway writes waiting positions as soon as this many are waiting …",
        int,
    ),
    Setting(
        "FLEET_FLUSH_MS",
        "50",
        "… or at the latest this many milliseconds after the first of them arrived.",
        parse_positive,
    ),
    Setting(
        "FLEET_MAX_PENDING",
        "20000",
        "Positions received but not yet stored beyond which the gateway stops reading from "
        "every connection until the database catches up (back-pressure).",
        int,
    ),
    Setting(
        "FLEET_MAX_UNACKED",
        "256",
        "Positions of one connection waiting for their acknowledgement beyond which the "
        "gateway stops reading from that connection.",
        int,
    ),
    Setting(
        "FLEET_POSITION_MAX_AGE_MINUTES",
        "15",
        "A staff badge's last fix counts as where the person is (nearest-worker choice in "
        "dispatch) for this many minutes; live maps grey out older ones.",
        parse_positive,
    ),
    Setting(
        "FLEET_ATTENDANCE_GRACE_MINUTES",
        "10",
        "Minutes of grace at both ends of a shift: a first fix in the area up to this long "
        "after the start is not late, a last one from this long before the end not early.",
        parse_non_negative,
    ),
    Setting(
        "FLEET_OUT_OF_AREA_MINUTES",
        "15",
        "A stretch outside the service area during a shift longer than this is an excursion: "
        "listed on the attendance page and alerted to the unit leader once.",
        parse_positive,
    ),
    Setting(
        "FLEET_COVERAGE_MINUTES",
        "10",
        "A device counts as covered (reporting) when its newest valid fix is at most this "
        "many minutes old.",
        parse_positive,
    ),
    # --- Open311 and the REST API (yunbao.open311, yunbao.api): add API settings below. ---
    Setting(
        "OPEN311_CONTACT",
        "",
        "Who Open311 client developers may contact (shown in discovery), e.g. an address.",
    ),
    Setting(
        "OPEN311_KEY_SERVICE",
        "",
        "How Open311 client developers get an API key (shown in discovery): a URL or a sentence.",
    ),
    Setting(
        "OPEN311_TEST_URL",
        "",
        "Base URL of a test Open311 endpoint listed in discovery; empty lists this server's "
        "own (PUBLIC_URL/open311/v2/) as the test endpoint too.",
    ),
    Setting(
        "API_RATE_LIMIT",
        "600",
        "Requests per minute the REST API accepts from one API token or one logged-in "
        "user; 0 turns the limit off.",
        int,
    ),
    Setting(
        "API_ANON_RATE_LIMIT",
        "600",
        "Requests per minute the REST API accepts from one IP address without valid "
        "credentials (reports, refused tokens); 0 turns the limit off.",
        int,
    ),
    Setting(
        "API_RATE_LIMIT_STORE",
        "memory",
        "Where the API's rate-limit counters live: `memory` (each server process counts for "
        "itself) or `redis` (shared by all processes, in REDIS_URL).",
        parse_choice("memory", "redis"),
    ),
    Setting(
        "API_TRUSTED_PROXIES",
        "0",
        "Reverse proxies in front of Yunbao whose X-Forwarded-For is believed when the API "
        "tells clients apart by IP address; 0 uses the connection's address.",
        int,
    ),
    Setting("API_PAGE_SIZE", "50", "Items per page of an API list when none is asked.", int),
    Setting("API_MAX_PAGE_SIZE", "200", "Most items per page an API list returns.", int),
    Setting(
        "API_TOKEN_DAYS",
        "365",
        "Days an API token lives unless made shorter; 0 lets tokens live until revoked.",
        int,
    ),
    # --- Field work (yunbao.field): add field-work settings below this line. ---
    Setting(
        "ARRIVE_RADIUS_M",
        "300",
        "A worker who marks arrival farther than this many metres from the order is recorded "
        "with a warning.",
        float,
    ),
    Setting(
        "REOPEN_DAYS",
        "7",
        "Days after closing during which the reporter may reopen an order (rework).",
        int,
    ),
    Setting(
        "MAP_TILE_URL",
        "",
        "Tile URL template for the report page's map ({z}/{x}/{y}); "
        "empty shows a plain grid with the pin and coordinates.",
    ),
    Setting(
        "S3_BUCKET",
        "",
        "Bucket for photos when STORAGE_BACKEND is `storages.backends.s3.S3Storage`.",
    ),
    Setting(
        "S3_ENDPOINT_URL",
        "",
        "Endpoint of an S3-compatible store (MinIO, OSS, COS); empty for AWS.",
    ),
    Setting("S3_REGION", "", "Region of the S3 bucket."),
    Setting("S3_ACCESS_KEY_ID", "", "Access key for the S3 store."),
    Setting("S3_SECRET_ACCESS_KEY", "", "Secret key for the S3 store (or `_FILE`)."),
)

BY_NAME = {s.name: s for s in SETTINGS}


def read(name: str) -> Any:
    return BY_NAME[name].read()
