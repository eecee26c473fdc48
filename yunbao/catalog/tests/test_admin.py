"""The catalogue's admin pages render, search and filter."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from yunbao.catalog.models import Category, Scene

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_root(settings: Any, tmp_path: Any) -> None:
    # WhiteNoise warns (an error here) when STATIC_ROOT does not exist, as on a fresh checkout.
    settings.STATIC_ROOT = tmp_path


def test_it_lists_searches_and_filters_categories(admin_client: Any) -> None:
    url = reverse("admin:catalog_category_changelist")
    response = admin_client.get(url, {"q": "烧烤"})
    assert response.status_code == 200
    assert "E0510" in response.content.decode()
    sanitation = Scene.objects.get(code="sanitation")
    response = admin_client.get(url, {"kind": "component", "scenes__id__exact": sanitation.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "C0305" in page
    assert "E0102" not in page


def test_it_shows_a_category_with_its_time_limits(admin_client: Any) -> None:
    category = Category.objects.get(code="E0102")
    response = admin_client.get(reverse("admin:catalog_category_change", args=[category.pk]))
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.queryset.count() == 8


@pytest.mark.parametrize("name", ["scene", "timelimit"])
def test_it_lists_scenes_and_time_limits(admin_client: Any, name: str) -> None:
    response = admin_client.get(reverse(f"admin:catalog_{name}_changelist"))
    assert response.status_code == 200
