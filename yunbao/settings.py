"""Django settings for Yunbao, read once from the environment through `yunbao.conf`."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.utils.translation import gettext_lazy as _

from yunbao import conf
from yunbao.conf import BASE_DIR
from yunbao.notify.emailurl import parse_email_url

DEMO: bool = conf.read("YUNBAO_DEMO")
_debug: bool | None = conf.read("DEBUG")
DEBUG = DEMO if _debug is None else _debug


def _secret_key() -> str:
    key: str = conf.read("SECRET_KEY")
    if key:
        return key
    if not (DEMO or DEBUG):
        raise RuntimeError(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE), or YUNBAO_DEMO=true "
            "for a local demo."
        )
    # Demo/debug: one random key per checkout, kept under var/ so sessions survive restarts.
    path = BASE_DIR / "var" / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS: list[str] = conf.read("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS: list[str] = conf.read("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "django_rq",  # the Redis backend's queues and `rqworker` (used when TASK_BACKEND=redis)
    "yunbao.geo",
    "yunbao.catalog",
    "yunbao.org",
    "yunbao.jobs",
    "yunbao.workorders",
    "yunbao.notify",
    "yunbao.sla",
    "yunbao.intake",
    "yunbao.dispatch",
    "yunbao.field",
    "yunbao.fleet",
    "yunbao.open311",
    "yunbao.api",
    "yunbao.insight",
    "yunbao.community",
    "ninja",  # the API docs page's Swagger UI from our own static files, not a CDN
    "yunbao.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "yunbao.intake.devices.DeviceMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "yunbao.urls"
WSGI_APPLICATION = "yunbao.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "yunbao" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "yunbao.web.context.site",
            ],
        },
    },
]


def _databases() -> dict[str, Any]:
    url: str = conf.read("DATABASE_URL")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # A relative SQLite path is relative to the checkout, not to the current directory.
        path = BASE_DIR / url.removeprefix("sqlite:///")
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path}"
    db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Django's backend plus a queue for writers across processes (yunbao/lib/sqlite).
        db["ENGINE"] = "yunbao.lib.sqlite"
        # Connections are kept for a minute, as on PostgreSQL: opening one (its PRAGMAs) and
        # closing it (the last one out checkpoints the WAL) cost 2.4 ms a request; kept,
        # the bare view of bench/intake.py went from 410 to 960 requests/s, a report from
        # 208 to 259/s (the WAL is checkpointed every 1000 pages instead).
        db["OPTIONS"] = {
            # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN
            # so two writers queue on the busy timeout instead of failing mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": conf.read("SQLITE_BUSY_TIMEOUT"),
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                # Keep the planner's statistics fresh (cheap; analyses only what changed;
                # run as each connection opens, so at least once a minute a process):
                # without them SQLite plans the duplicate search on the wrong index.
                " PRAGMA optimize=0x10002;"
            ),
        }
    return {"default": db}


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE: str = conf.read("LANGUAGE_CODE")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "yunbao" / "locale"]
USE_I18N = True
TIME_ZONE: str = conf.read("TIME_ZONE")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / Path(conf.read("STATIC_ROOT"))
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / Path(conf.read("MEDIA_ROOT"))
STORAGES = {
    "default": {"BACKEND": conf.read("STORAGE_BACKEND")},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True

_secure_setting: bool | None = conf.read("SECURE_COOKIES")
_secure = not (DEMO or DEBUG) if _secure_setting is None else _secure_setting
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Yunbao's own settings.
YUNBAO_WORKING_HOURS: str = conf.read("WORKING_HOURS")
YUNBAO_H3_RESOLUTION: int = conf.read("H3_RESOLUTION")
YUNBAO_GEO_CACHE_SECONDS: float = conf.read("GEO_CACHE_SECONDS")
YUNBAO_BIND: str = conf.read("BIND")
YUNBAO_WEB_WORKERS: int = conf.read("WEB_WORKERS")
YUNBAO_DEMO_PASSWORD: str = conf.read("DEMO_PASSWORD")
YUNBAO_PHOTO_MAX_BYTES: int = conf.read("PHOTO_MAX_BYTES")
YUNBAO_PHOTO_MAX_PIXELS: int = conf.read("PHOTO_MAX_PIXELS")
YUNBAO_PHOTO_MAX_SIDE: int = conf.read("PHOTO_MAX_SIDE")
YUNBAO_PHOTO_OLD_DAYS: int = conf.read("PHOTO_OLD_DAYS")
# Field work (yunbao.field, workorders.actions)
YUNBAO_ARRIVE_RADIUS_M: float = conf.read("ARRIVE_RADIUS_M")
YUNBAO_REOPEN_DAYS: int = conf.read("REOPEN_DAYS")
YUNBAO_REPORT_MAX_PHOTOS: int = conf.read("REPORT_MAX_PHOTOS")
YUNBAO_OUTSIDE_AREA_POLICY: str = conf.read("OUTSIDE_AREA_POLICY")
YUNBAO_DEDUPE_RADIUS_M: float = conf.read("DEDUPE_RADIUS_M")
YUNBAO_DEDUPE_WINDOW_HOURS: float = conf.read("DEDUPE_WINDOW_HOURS")
YUNBAO_DEDUPE_AUTO_MERGE_SCORE: float = conf.read("DEDUPE_AUTO_MERGE_SCORE")
YUNBAO_DEDUPE_SUGGEST_SCORE: float = conf.read("DEDUPE_SUGGEST_SCORE")
YUNBAO_MAP_TILE_URL: str = conf.read("MAP_TILE_URL")
YUNBAO_AUTO_DISPATCH: bool = conf.read("AUTO_DISPATCH")
YUNBAO_AUTO_DISPATCH_THRESHOLD: float = conf.read("AUTO_DISPATCH_THRESHOLD")
YUNBAO_CLASSIFIER_MIN_GAIN: float = conf.read("CLASSIFIER_MIN_GAIN")
# Time limits (yunbao.sla).
YUNBAO_SLA_WARN_SHARE: float = conf.read("SLA_WARN_SHARE")
YUNBAO_SLA_ESCALATE2_SHARE: float = conf.read("SLA_ESCALATE2_SHARE")
YUNBAO_SLA_SWEEP_BATCH: int = conf.read("SLA_SWEEP_BATCH")
# Fleet, gateway and attendance (yunbao.fleet): add fleet settings below this line.
YUNBAO_FLEET_GATEWAY_HOST: str = conf.read("FLEET_GATEWAY_HOST")
YUNBAO_FLEET_JT808_PORT: int = conf.read("FLEET_JT808_PORT")
YUNBAO_FLEET_OSMAND_PORT: int = conf.read("FLEET_OSMAND_PORT")
# Empty: the demo takes any terminal pointed at it, a real deployment only known ones.
YUNBAO_FLEET_UNKNOWN_DEVICES: str = conf.read("FLEET_UNKNOWN_DEVICES") or (
    "register" if DEMO else "refuse"
)
YUNBAO_FLEET_IDLE_TIMEOUT: float = conf.read("FLEET_IDLE_TIMEOUT")
YUNBAO_FLEET_RETENTION_DAYS: int = conf.read("FLEET_RETENTION_DAYS")
YUNBAO_FLEET_MAX_CONNECTIONS: int = conf.read("FLEET_MAX_CONNECTIONS")
YUNBAO_FLEET_BATCH_ROWS: int = conf.read("FLEET_BATCH_ROWS")
YUNBAO_FLEET_FLUSH_MS: float = conf.read("FLEET_FLUSH_MS")
YUNBAO_FLEET_MAX_PENDING: int = conf.read("FLEET_MAX_PENDING")
YUNBAO_FLEET_MAX_UNACKED: int = conf.read("FLEET_MAX_UNACKED")
YUNBAO_FLEET_POSITION_MAX_AGE_MINUTES: float = conf.read("FLEET_POSITION_MAX_AGE_MINUTES")
YUNBAO_FLEET_ATTENDANCE_GRACE_MINUTES: float = conf.read("FLEET_ATTENDANCE_GRACE_MINUTES")
YUNBAO_FLEET_OUT_OF_AREA_MINUTES: float = conf.read("FLEET_OUT_OF_AREA_MINUTES")
YUNBAO_FLEET_COVERAGE_MINUTES: float = conf.read("FLEET_COVERAGE_MINUTES")
# Open311 and the REST API (yunbao.open311, yunbao.api): add API settings below this line.
YUNBAO_OPEN311_CONTACT: str = conf.read("OPEN311_CONTACT")
YUNBAO_OPEN311_KEY_SERVICE: str = conf.read("OPEN311_KEY_SERVICE")
YUNBAO_OPEN311_TEST_URL: str = conf.read("OPEN311_TEST_URL")
YUNBAO_API_RATE_LIMIT: int = conf.read("API_RATE_LIMIT")
YUNBAO_API_ANON_RATE_LIMIT: int = conf.read("API_ANON_RATE_LIMIT")
YUNBAO_API_TRUSTED_PROXIES: int = conf.read("API_TRUSTED_PROXIES")
YUNBAO_API_PAGE_SIZE: int = conf.read("API_PAGE_SIZE")
YUNBAO_API_MAX_PAGE_SIZE: int = conf.read("API_MAX_PAGE_SIZE")
YUNBAO_API_TOKEN_DAYS: int = conf.read("API_TOKEN_DAYS")
# The API's rate-limit counters (yunbao.api.throttle): this process's memory, or Redis shared
# by every process. The default cache stays Django's own default (local memory).
CACHES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api-rate": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": conf.read("REDIS_URL"),
        }
        if conf.read("API_RATE_LIMIT_STORE") == "redis"
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-rate"}
    ),
}

# Every new order gets the machine's decision in the background (tests turn this off and
# call the decision themselves, so unrelated tests keep their orders as submitted).
YUNBAO_DECIDE_ON_SUBMIT = True

# Background tasks, run by `yunbao worker` (yunbao/jobs): a database table by default, an RQ
# queue in Redis for production, inline for tests.
YUNBAO_TASK_BACKEND: str = conf.read("TASK_BACKEND")
YUNBAO_REDIS_URL: str = conf.read("REDIS_URL")
TASKS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": {
            # django-tasks-db's backend with a leaner enqueue (see yunbao/jobs/backends.py).
            "database": "yunbao.jobs.backends.DatabaseBackend",
            # django-tasks-rq's backend, pushing on commit (see yunbao/jobs/backends.py).
            "redis": "yunbao.jobs.backends.RQBackend",
            "immediate": "django_tasks.backends.immediate.ImmediateBackend",
        }[YUNBAO_TASK_BACKEND],
        "QUEUES": ["default"],
    }
}
RQ_QUEUES = {"default": {"URL": YUNBAO_REDIS_URL}}
# The RQ dashboard in the admin only where there is a Redis queue to show.
RQ_SHOW_ADMIN_LINK = YUNBAO_TASK_BACKEND == "redis"
YUNBAO_SCHEDULER_TICK_SECONDS: float = conf.read("SCHEDULER_TICK_SECONDS")
YUNBAO_JOB_HISTORY_DAYS: int = conf.read("JOB_HISTORY_DAYS")

# Notifications (yunbao.notify).
YUNBAO_PUBLIC_URL: str = conf.read("PUBLIC_URL").rstrip("/")
YUNBAO_NOTIFY_MAX_ATTEMPTS: int = conf.read("NOTIFY_MAX_ATTEMPTS")
YUNBAO_NOTIFY_BACKOFF_SECONDS: float = conf.read("NOTIFY_BACKOFF_SECONDS")
YUNBAO_NOTIFY_BACKOFF_MAX_SECONDS: float = conf.read("NOTIFY_BACKOFF_MAX_SECONDS")
YUNBAO_NOTIFY_TIMEOUT: float = conf.read("NOTIFY_TIMEOUT")
YUNBAO_NOTIFY_LEASE_SECONDS: float = conf.read("NOTIFY_LEASE_SECONDS")
YUNBAO_NOTIFY_ALLOW_HTTP: bool = conf.read("NOTIFY_ALLOW_HTTP")
# Delivery is enqueued when the outbox rows commit (tests turn it off to drive the clock).
YUNBAO_NOTIFY_DELIVER_ON_COMMIT = True
# No EMAIL_URL: the email channel is off (no mail is queued).
YUNBAO_NOTIFY_EMAIL: bool = bool(conf.read("EMAIL_URL").strip())
_email = parse_email_url(conf.read("EMAIL_URL"))
EMAIL_BACKEND: str = _email["EMAIL_BACKEND"]
EMAIL_HOST: str = _email["EMAIL_HOST"]
EMAIL_PORT: int = _email["EMAIL_PORT"]
EMAIL_HOST_USER: str = _email["EMAIL_HOST_USER"]
EMAIL_HOST_PASSWORD: str = _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS: bool = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL: bool = _email["EMAIL_USE_SSL"]
DEFAULT_FROM_EMAIL: str = conf.read("EMAIL_FROM")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = YUNBAO_NOTIFY_TIMEOUT

# S3-compatible photo storage (django-storages), used when STORAGE_BACKEND selects it.
AWS_STORAGE_BUCKET_NAME: str = conf.read("S3_BUCKET")
AWS_S3_ENDPOINT_URL: str | None = conf.read("S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME: str | None = conf.read("S3_REGION") or None
AWS_ACCESS_KEY_ID: str | None = conf.read("S3_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY: str | None = conf.read("S3_SECRET_ACCESS_KEY") or None
AWS_DEFAULT_ACL = None  # photos are private; URLs are signed
# SigV4: SigV2 links are refused by newer AWS regions and several S3-compatible stores.
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_QUERYSTRING_AUTH = True
# Uploads larger than Django's default spill to disk instead of memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "yunbao": {"handlers": ["console"], "level": conf.read("LOG_LEVEL"), "propagate": False}
    },
}
