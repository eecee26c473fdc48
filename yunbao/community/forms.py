"""Forms of the community pages. They only parse and shape input; the rules (times,
capacity, who may do what) are checked by `yunbao.community.actions`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from yunbao.community.actions import NICKNAME_MAX, SUMMARY_MAX, TITLE_MAX
from yunbao.community.models import ActivityKind
from yunbao.geo.models import Area

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ActivityForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX)
    kind = forms.ChoiceField(label=_("Type"), choices=ActivityKind.choices)
    area = forms.ModelChoiceField(
        label=_("Village / community"), queryset=Area.objects.none(), to_field_name="code"
    )
    place = forms.CharField(label=_("Meeting place"), max_length=200)
    lat = forms.FloatField(label=_("Latitude"), min_value=-90, max_value=90)
    lon = forms.FloatField(label=_("Longitude"), min_value=-180, max_value=180)
    starts_at = forms.DateTimeField(
        label=_("Starts at"), input_formats=DATETIME_FORMATS, widget=LocalDateTimeInput()
    )
    ends_at = forms.DateTimeField(
        label=_("Ends at"), input_formats=DATETIME_FORMATS, widget=LocalDateTimeInput()
    )
    capacity = forms.IntegerField(label=_("Capacity"), min_value=1, max_value=10_000)
    checkin_radius_m = forms.IntegerField(
        label=_("Check-in radius (m, 0: anywhere)"), min_value=0, max_value=50_000, initial=0
    )
    description = forms.CharField(
        label=_("About the activity"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    cover = forms.ImageField(label=_("Cover photo"), required=False)

    def __init__(self, *args: Any, areas: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        area_field = self.fields["area"]
        assert isinstance(area_field, forms.ModelChoiceField)
        area_field.queryset = areas


class SignUpForm(forms.Form):
    nickname = forms.CharField(
        label=_("Nickname"),
        max_length=NICKNAME_MAX,
        help_text=_("Shown on the leaderboard; your phone number never is."),
    )
    phone = forms.CharField(
        label=_("Phone (optional, only the organiser sees it)"), max_length=32, required=False
    )


class CloseForm(forms.Form):
    summary = forms.CharField(
        label=_("Summary"), max_length=SUMMARY_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )


class HoursForm(forms.Form):
    hours = forms.DecimalField(
        label=_("Hours"), min_value=Decimal(0), max_digits=5, decimal_places=2
    )


class CheckInForm(forms.Form):
    nickname = forms.CharField(label=_("Nickname"), max_length=NICKNAME_MAX, required=False)
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    lon = forms.FloatField(required=False, widget=forms.HiddenInput)
    accuracy = forms.FloatField(required=False, widget=forms.HiddenInput, min_value=0)
