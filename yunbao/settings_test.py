"""Settings for the test suite: the real settings with test-only secrets and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")
# Background tasks run inline in tests, so a test sees their effect at once.
os.environ.setdefault("TASK_BACKEND", "immediate")

from yunbao.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
STATIC_ROOT = BASE_DIR / "var" / "test-static"  # noqa: F405
# WhiteNoise warns (an error under pytest) when the static root is missing.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
if DATABASES["default"]["ENGINE"] == "yunbao.lib.sqlite":  # noqa: F405
    # A file, not shared-cache memory: concurrency tests need SQLite's real locking (WAL,
    # busy timeout), exactly as production has it. One file per process, so parallel runs
    # (several engineers, or SQLite beside PostgreSQL) never share it.
    _name = f"test-db-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / _name)}  # noqa: F405

YUNBAO_DECIDE_ON_SUBMIT = False
