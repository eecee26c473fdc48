"""Settings for the test suite: the real settings with test-only secrets and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-key-for-tests-only")

from yunbao.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"  # noqa: F405
STATIC_ROOT = BASE_DIR / "var" / "test-static"  # noqa: F405
# WhiteNoise warns (an error under pytest) when the static root is missing.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
