"""Settings for the intake benchmark: Yunbao plus one bare baseline view (bench.intake_urls).

The bare view lives in the benchmark, not in the product, so production never serves it.
"""

from yunbao.settings_test import *  # noqa: F403

ROOT_URLCONF = "bench.intake_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# As in production: each report enqueues its automatic decision (one row) for the worker.
YUNBAO_DECIDE_ON_SUBMIT = True
TASKS = {"default": {"BACKEND": "yunbao.jobs.backends.DatabaseBackend"}}
