"""Helpers for the field tests: a logged-in client, keys, photos, and posting actions."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

JSON: dict[str, Any] = {"HTTP_ACCEPT": "application/json"}


def client_for(world: Any, name: str) -> Client:
    client = Client()
    client.force_login(world.users[name])
    return client


def key() -> str:
    return uuid.uuid4().hex


def jpeg(name: str = "after.jpg", colour: str = "green", size: tuple[int, int] = (64, 48)) -> Any:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def act(client: Client, number: str, action: str, **data: Any) -> Any:
    """POST a worker action as the task page's script does (JSON answer)."""
    data.setdefault("key", key())
    return client.post(reverse("field:task-action", args=[number, action]), data, **JSON)


def check(client: Client, number: str, action: str, **data: Any) -> Any:
    data.setdefault("key", key())
    return client.post(reverse("field:check-action", args=[number, action]), data, **JSON)
