"""The composite scores' weights, editable by administrators."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from yunbao.insight.indicators import INDICATORS
from yunbao.insight.models import ScoreWeight


class ScoreWeightForm(forms.ModelForm[ScoreWeight]):
    indicator = forms.ChoiceField(
        label=_("indicator"),
        choices=[(key, ind.label) for key, ind in INDICATORS.items() if not ind.mean],
    )

    class Meta:
        model = ScoreWeight
        fields = ["score", "indicator", "weight"]


@admin.register(ScoreWeight)
class ScoreWeightAdmin(admin.ModelAdmin[ScoreWeight]):
    form = ScoreWeightForm
    list_display = ["score", "indicator", "weight"]
    list_filter = ["score"]
