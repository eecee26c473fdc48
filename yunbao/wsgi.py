"""WSGI entry point, served by gunicorn through `yunbao serve`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yunbao.settings")
application = get_wsgi_application()


def _warm_up() -> None:
    """Pay import costs while the worker starts, not on some reporter's first request."""
    from django.urls import get_resolver

    from yunbao.intake.dedupe import warm_up as warm_up_dedupe

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    warm_up_dedupe()
    # jieba's dictionary loads lazily (≈1 s); the console and "where" page classify text.
    from yunbao.dispatch.classifier import warm_up as warm_up_classifier

    warm_up_classifier()


_warm_up()
