"""Photos attach to the order and to the timeline row of the move they prove."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from yunbao.workorders import actions
from yunbao.workorders.models import PhotoKind, Status
from yunbao.workorders.tests.helpers import bring_to


def png(name: str, colour: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_it_attaches_before_and_after_photos(world: Any, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    order = bring_to(world, Status.IN_PROGRESS)
    before = actions.add_photo(
        order, actor=world.users["erin"], kind=PhotoKind.BEFORE, image=png("b.png", "red")
    )
    entry = actions.finish(
        order, actor=world.users["bob"], note="扫干净了", photos=[png("a.png", "green")]
    )
    after = order.photos.get(kind=PhotoKind.AFTER)
    assert after.entry == entry
    assert before.entry is None
    assert list(entry.photos.all()) == [after]
    page = Client()
    page.force_login(world.users["carol"])
    html = page.get(reverse("order-detail", args=[order.number])).content.decode()
    assert before.image.url in html
    assert after.image.url in html
