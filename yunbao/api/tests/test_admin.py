"""The admin pages of the API: tokens listed and revoked (no hash, no key), subscriptions
saved through the same actions as the API, their secret shown once and masked after."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from yunbao.api import tokens, webhooks
from yunbao.api.models import ApiToken, WebhookSubscription


def admin_client(world: Any) -> Client:
    client = Client()
    client.force_login(world.users["ada"])
    return client


def test_tokens_are_listed_without_their_hash_and_revoked(world: Any) -> None:
    token, plain = tokens.create_token(user=world.users["bob"], name="phone")
    client = admin_client(world)
    for page in [
        reverse("admin:api_apitoken_changelist"),
        reverse("admin:api_apitoken_change", args=[token.pk]),
    ]:
        response = client.get(page)
        assert response.status_code == 200
        text = response.content.decode()
        assert token.prefix in text
        assert token.key_hash not in text
        assert plain not in text
    assert client.get(reverse("admin:api_apitoken_add")).status_code == 403
    response = client.post(
        reverse("admin:api_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert tokens.authenticate(plain) is None


def test_a_subscription_made_in_the_admin_shows_its_secret_once(world: Any) -> None:
    client = admin_client(world)
    add = reverse("admin:api_webhooksubscription_add")
    assert client.get(add).status_code == 200
    response = client.post(
        add,
        {
            "client": "12345 热线",
            "url": "https://hotline.example/in",
            "events": ["created", "overdue"],
            "active": "on",
            "secret": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sub = WebhookSubscription.objects.get()
    secret = sub.endpoint.secret
    # The next page shows it (the admin's message), and no page after that.
    assert secret in client.get(response["Location"]).content.decode()
    assert sub.events == ["created", "overdue"]
    assert sub.endpoint.user is not None
    assert sub.endpoint.user.username == webhooks.SERVICE_USERNAME
    change = reverse("admin:api_webhooksubscription_change", args=[sub.pk])
    page = client.get(change).content.decode()
    assert secret not in page
    assert secret[:4] in page
    # Saving without a secret keeps it; the URL must stay deliverable.
    response = client.post(
        change,
        {"client": "12345", "url": "ftp://x", "events": ["created"], "active": "on"},
    )
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    response = client.post(
        change,
        {"client": "12345", "url": "https://hotline.example/v2", "events": ["created"]},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.client, sub.url, sub.active) == ("12345", "https://hotline.example/v2", False)
    assert sub.endpoint.secret == secret
    assert not sub.endpoint.active
    delete = reverse("admin:api_webhooksubscription_delete", args=[sub.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not WebhookSubscription.objects.exists()
