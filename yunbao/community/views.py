"""The community pages: public activity pages for residents, the organisers' pages.

Who may use what:

- Anyone, with or without an account (mobile first): the calendar of upcoming activities
  per village (`/community/`), an activity's page with its sign-up form and calendar file
  (`/community/a/<id>/`), the check-in page its QR code opens (`/community/c/<token>/`), the
  leaderboard of a village (nicknames only) and "my points" (the phone's device token or
  the account). Drafts and cancelled activities are 404 here. These pages never show a
  participant's phone, account or another person's sign-up.
- Organisers, operations managers and administrators (`access.may_organise`), for the
  activities in their areas: `/community/manage/…` (create, edit, publish, share and print
  the QR posters, see sign-ups with nickname and phone, check people in and out, correct
  hours, add photos, close with a summary). Anyone else logged in gets 403, an anonymous
  visitor the login page; an activity outside the organiser's areas is a 404.

Every form posts with a CSRF token; refusals from `actions` are shown as messages (and
logged there) and change nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yunbao.community import actions, points
from yunbao.community.access import (
    manageable_activities,
    may_organise,
    may_organise_in,
    organisable_areas,
)
from yunbao.community.forms import ActivityForm, CheckInForm, CloseForm, HoursForm, SignUpForm
from yunbao.community.ics import activity_ics
from yunbao.community.mapping import village_maps
from yunbao.community.measures import activity_measure
from yunbao.community.models import (
    Activity,
    ActivityStatus,
    Participant,
    PointKind,
    SignUp,
    SignUpStatus,
)
from yunbao.community.posters import activity_poster, checkin_url, share_url
from yunbao.geo.models import Area, Level
from yunbao.intake import devices, qr
from yunbao.lib.svgmap import area_map_svg

log = logging.getLogger(__name__)

PAPER_SIZES = ("a5", "a4")
# The form carries the maps of at most this many villages (an organiser's street has fewer).
MAP_VILLAGES = 60
CALENDAR_DAYS = 60
HISTORY_SIZE = 50


# --- Who is this phone ---------------------------------------------------------------------


def with_device(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Make sure the phone has intake's device token (the middleware issues it only on the
    reporting pages), so a sign-up without an account and the reports from the same phone
    belong to one participant."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        issued = ""
        if not devices.device_of(request):
            issued = secrets.token_urlsafe(24)
            request.yb_device = issued  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)
        if issued:
            response.set_cookie(
                devices.COOKIE,
                issued,
                max_age=devices.MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response

    return wrapper


def _me(request: HttpRequest) -> Participant | None:
    """This visitor's participant, if they have one (account first, then phone)."""
    return actions.known_participant(request.user, devices.device_of(request))


def _public(activity_id: int) -> Activity:
    return get_object_or_404(Activity.objects.public().select_related("area"), pk=activity_id)


# --- Public pages --------------------------------------------------------------------------


def _villages_with(activities: Any) -> list[Area]:
    ids = set(activities.values_list("area_id", flat=True))
    areas = Area.objects.filter(pk__in=ids)
    villages = {a.pk: a for a in areas if a.level == Level.COMMUNITY}
    others = [a for a in areas if a.level != Level.COMMUNITY]
    for area in others:
        for above in area.ancestors():
            if above.level == Level.COMMUNITY:
                villages[above.pk] = above
    return sorted(villages.values(), key=lambda a: a.path)


@with_device
def calendar(request: HttpRequest) -> HttpResponse:
    """Upcoming activities by day, optionally of one village (`?village=CODE`). Who: anyone."""
    now = timezone.now()
    upcoming = Activity.objects.upcoming(now).filter(
        starts_at__lte=now + timedelta(days=CALENDAR_DAYS)
    )
    villages = _villages_with(upcoming)
    village = None
    if code := request.GET.get("village", "").strip():
        village = get_object_or_404(Area, code=code[:32], level=Level.COMMUNITY)
        upcoming = upcoming.in_area(village)
    days: OrderedDict[Any, list[Activity]] = OrderedDict()
    for activity in upcoming.select_related("area").order_by("starts_at", "id"):
        days.setdefault(timezone.localtime(activity.starts_at).date(), []).append(activity)
    return render(
        request,
        "community/calendar.html",
        {
            "days": days,
            "villages": villages,
            "village": village,
            "organiser": may_organise(request.user),
        },
    )


def _spots(activity: Activity) -> int:
    return max(
        0, activity.capacity - activity.signups.filter(status=SignUpStatus.SIGNED_UP).count()
    )


@with_device
def activity_page(request: HttpRequest, activity_id: int) -> HttpResponse:
    """An activity's page with its sign-up form. Who: anyone (published or closed only)."""
    activity = _public(activity_id)
    me = _me(request)
    mine = (
        SignUp.objects.filter(
            activity=activity, participant=me, status=SignUpStatus.SIGNED_UP
        ).first()
        if me
        else None
    )
    form = SignUpForm(initial={"nickname": me.nickname if me else ""})
    return render(
        request,
        "community/activity.html",
        {
            "activity": activity,
            "mine": mine,
            "form": form,
            "spots": _spots(activity),
            "map_svg": area_map_svg(activity.area.geometry, activity.lat, activity.lon),
            "photos": activity.photos.all() if activity.status == ActivityStatus.CLOSED else [],
            "manage": manageable_activities(request.user).filter(pk=activity.pk).exists(),
        },
    )


@require_POST
@with_device
def sign_up(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Sign up for an activity. Who: anyone (an account or this phone's token)."""
    activity = _public(activity_id)
    form = SignUpForm(request.POST)
    back = reverse("community:activity", args=[activity.pk])
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return HttpResponseRedirect(back)
    try:
        actions.sign_up(
            activity,
            actor=request.user,
            device=devices.device_of(request),
            nickname=form.cleaned_data["nickname"],
            phone=form.cleaned_data["phone"],
        )
    except actions.CommunityError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("You are signed up. See you there!"))
    return HttpResponseRedirect(back)


@require_POST
@with_device
def cancel_sign_up(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Cancel one's own sign-up. Who: the participant (account or phone)."""
    activity = _public(activity_id)
    me = _me(request)
    signup = (
        get_object_or_404(SignUp, activity=activity, participant=me, status=SignUpStatus.SIGNED_UP)
        if me
        else None
    )
    if signup is None:
        raise Http404
    try:
        actions.cancel_sign_up(signup, actor=request.user)
    except actions.CommunityError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Your sign-up is cancelled."))
    return HttpResponseRedirect(reverse("community:activity", args=[activity.pk]))


def ics(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The activity as a calendar file with a reminder an hour before. Who: anyone."""
    activity = _public(activity_id)
    response = HttpResponse(
        activity_ics(activity, share_url(request, activity)),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="activity-{activity.pk}.ics"'
    return response


@with_device
def check_in(request: HttpRequest, token: str) -> HttpResponse:
    """The page the check-in QR code opens: check in, then (later) check out.
    Who: anyone holding a valid token, during the event's time window."""
    try:
        activity = actions.activity_of_token(token)
    except actions.CommunityError as exc:
        return render(request, "community/checkin_refused.html", {"reason": str(exc)}, status=400)
    if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise Http404
    me = _me(request)
    mine = (
        SignUp.objects.filter(
            activity=activity, participant=me, status=SignUpStatus.SIGNED_UP
        ).first()
        if me
        else None
    )
    if request.method == "POST":
        form = CheckInForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Your position could not be read; try again."))
            return HttpResponseRedirect(request.path)
        data = form.cleaned_data
        try:
            if request.POST.get("action") == "out":
                actions.self_check_out(
                    activity, actor=request.user, device=devices.device_of(request)
                )
                messages.success(request, _("Checked out. Thank you for your time!"))
            else:
                actions.self_check_in(
                    activity,
                    actor=request.user,
                    device=devices.device_of(request),
                    nickname=data.get("nickname") or "",
                    lat=data.get("lat"),
                    lon=data.get("lon"),
                    accuracy=data.get("accuracy"),
                )
                messages.success(request, _("Checked in. Welcome!"))
        except actions.CommunityError as exc:
            messages.error(request, str(exc))
        return HttpResponseRedirect(request.path)
    opens, shuts = actions.checkin_window(activity)
    now = timezone.now()
    return render(
        request,
        "community/checkin.html",
        {
            "activity": activity,
            "mine": mine,
            "me": me,
            "form": CheckInForm(initial={"nickname": me.nickname if me else ""}),
            "opens": opens,
            "shuts": shuts,
            "window_open": activity.status == ActivityStatus.PUBLISHED and opens <= now <= shuts,
            "needs_position": bool(activity.checkin_radius_m),
        },
    )


@with_device
def my_points(request: HttpRequest) -> HttpResponse:
    """This phone's or account's points, level, history and activities. Who: the person
    themselves (nobody else can open another's page: it is found by their cookie/account)."""
    me = _me(request)
    entries = me.points.select_related("order", "activity")[:HISTORY_SIZE] if me else []
    total = points.total(me) if me else 0
    by_kind = points.grouped_totals(me.points.all()) if me else {}
    return render(
        request,
        "community/me.html",
        {
            "me": me,
            "entries": entries,
            "standing": points.standing(total),
            "kind_totals": [(label, by_kind.get(value, 0)) for value, label in PointKind.choices],
            "hours": points.hours_total(me) if me else 0,
            "signups": me.signups.select_related("activity").order_by("-activity__starts_at")[:20]
            if me
            else [],
            "rules": points.rules(),
        },
    )


def leaderboard(request: HttpRequest) -> HttpResponse:
    """A village's leaderboard (nicknames only). Who: anyone."""
    villages = list(Area.objects.filter(level=Level.COMMUNITY).order_by("path")[:500])
    village = None
    if code := request.GET.get("village", "").strip():
        village = get_object_or_404(Area, code=code[:32], level=Level.COMMUNITY)
    elif villages:
        village = villages[0]
    return render(
        request,
        "community/leaderboard.html",
        {
            "villages": villages,
            "village": village,
            "ranks": points.leaderboard(village) if village else [],
        },
    )


# --- Organisers' pages ---------------------------------------------------------------------


def organisers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in (else the login page) and an organiser's role (else 403)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_organise(request.user):
            log.info("community organiser page %s refused to %s", request.path, request.user)
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _managed(request: HttpRequest, activity_id: int) -> Activity:
    return get_object_or_404(
        manageable_activities(request.user).select_related("area"), pk=activity_id
    )


@organisers_only
def manage_list(request: HttpRequest) -> HttpResponse:
    """The activities the organiser manages, newest first. Who: organisers (their areas)."""
    activities = (
        manageable_activities(request.user).select_related("area").order_by("-starts_at")[:200]
    )
    return render(request, "community/manage_list.html", {"activities": activities})


def _form_input(form: ActivityForm) -> actions.ActivityInput:
    d = form.cleaned_data
    return actions.ActivityInput(
        title=d["title"],
        kind=d["kind"],
        area=d["area"],
        place=d["place"],
        lat=d["lat"],
        lon=d["lon"],
        starts_at=d["starts_at"],
        ends_at=d["ends_at"],
        capacity=d["capacity"],
        description=d["description"],
        checkin_radius_m=d["checkin_radius_m"],
    )


def _save_activity(request: HttpRequest, activity: Activity | None) -> HttpResponse:
    areas = organisable_areas(request.user).filter(level=Level.COMMUNITY).order_by("path")
    if request.method == "POST":
        form = ActivityForm(request.POST, request.FILES, areas=areas)
        if form.is_valid():
            data = _form_input(form)
            if not may_organise_in(request.user, data.area):
                raise PermissionDenied
            try:
                if activity is None:
                    activity = actions.create_activity(data, actor=request.user)
                else:
                    activity = actions.update_activity(activity, data, actor=request.user)
                if cover := form.cleaned_data.get("cover"):
                    actions.set_cover(activity, cover.read(), name=cover.name, actor=request.user)
            except actions.CommunityError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, _("Saved."))
                return HttpResponseRedirect(reverse("community:manage", args=[activity.pk]))
    elif activity is not None:
        form = ActivityForm(
            initial={
                "title": activity.title,
                "kind": activity.kind,
                "area": activity.area.code,
                "place": activity.place,
                "lat": activity.lat,
                "lon": activity.lon,
                "starts_at": timezone.localtime(activity.starts_at),
                "ends_at": timezone.localtime(activity.ends_at),
                "capacity": activity.capacity,
                "checkin_radius_m": activity.checkin_radius_m,
                "description": activity.description,
            },
            areas=areas,
        )
    else:
        first = areas.filter(level=Level.COMMUNITY).first()
        form = ActivityForm(
            initial={
                "area": first.code if first else "",
                "lat": first.center_lat if first else "",
                "lon": first.center_lon if first else "",
                "capacity": 20,
                "checkin_radius_m": 0,
            },
            areas=areas,
        )
    return render(
        request,
        "community/activity_form.html",
        {"form": form, "activity": activity, "village_maps": village_maps(areas[:MAP_VILLAGES])},
    )


@organisers_only
def manage_new(request: HttpRequest) -> HttpResponse:
    """Create an activity (a draft). Who: organisers, in their areas."""
    return _save_activity(request, None)


@organisers_only
def manage_edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    """Edit an activity. Who: organisers of its area."""
    return _save_activity(request, _managed(request, activity_id))


@organisers_only
def manage(request: HttpRequest, activity_id: int) -> HttpResponse:
    """One activity for its organiser: sharing, sign-ups with contacts, attendance, hours,
    photos, closing, and its new reporters. Who: organisers of its area."""
    activity = _managed(request, activity_id)
    signups = list(
        activity.signups.select_related("participant", "participant__user").order_by(
            "status", "created_at"
        )
    )
    return render(
        request,
        "community/manage.html",
        {
            "activity": activity,
            "signups": signups,
            "measure": activity_measure(activity),
            "share_url": share_url(request, activity),
            "checkin_url": checkin_url(request, activity),
            "share_qr": qr.qr_data_uri(share_url(request, activity), box_size=6),
            "checkin_qr": qr.qr_data_uri(checkin_url(request, activity), box_size=6),
            "close_form": CloseForm(),
            "window": actions.checkin_window(activity),
        },
    )


MANAGE_ACTIONS = (
    "publish",
    "cancel",
    "close",
    "photo",
    "new-code",
    "check-in",
    "check-out",
    "hours",
)


@require_POST
@organisers_only
def manage_action(request: HttpRequest, activity_id: int, action: str) -> HttpResponse:
    """One organiser action on an activity (POST). Who: organisers of its area."""
    activity = _managed(request, activity_id)
    if action not in MANAGE_ACTIONS:
        raise Http404
    user = request.user
    try:
        if action == "publish":
            actions.publish(activity, actor=user)
            messages.success(request, _("Published: share the link or the poster."))
        elif action == "cancel":
            actions.cancel(activity, actor=user)
            messages.success(request, _("The activity is cancelled."))
        elif action == "close":
            form = CloseForm(request.POST)
            actions.close(activity, actor=user, summary=form.data.get("summary", ""))
            messages.success(request, _("The activity is closed."))
        elif action == "photo":
            upload = request.FILES.get("photo")
            if upload is None:
                raise actions.CommunityError(_("Choose a photo."))
            actions.add_photo(activity, upload.read(), name=upload.name or "", actor=user)
            messages.success(request, _("Photo added."))
        elif action == "new-code":
            actions.new_checkin_code(activity, actor=user)
            messages.success(request, _("New check-in code: print the poster again."))
        else:
            signup = get_object_or_404(
                SignUp, activity=activity, pk=request.POST.get("signup") or 0
            )
            if action == "check-in":
                actions.organiser_check_in(signup, actor=user)
            elif action == "check-out":
                actions.organiser_check_out(signup, actor=user)
            else:
                hours = HoursForm(request.POST)
                if not hours.is_valid():
                    raise actions.CommunityError(_("Give the hours as a number, such as 1.5."))
                actions.set_hours(signup, hours.cleaned_data["hours"], actor=user)
            messages.success(request, _("Saved."))
    except actions.CommunityError as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(reverse("community:manage", args=[activity.pk]))


def _poster_page(request: HttpRequest, activity: Activity, which: str) -> HttpResponse:
    poster = activity_poster(request, activity, which)
    paper = request.GET.get("paper", "").lower()
    return render(
        request,
        "intake/poster.html",
        {
            "poster": poster,
            "qr_data_uri": qr.qr_data_uri(poster.url),
            "png_url": reverse("community:poster-qr", args=[activity.pk, which]),
            "poster_png_url": reverse("community:poster-png", args=[activity.pk, which]),
            "paper": paper if paper in PAPER_SIZES else PAPER_SIZES[0],
            "paper_sizes": PAPER_SIZES,
        },
    )


POSTERS = ("share", "checkin")


@organisers_only
def poster(request: HttpRequest, activity_id: int, which: str) -> HttpResponse:
    """The printable share or check-in poster. Who: organisers of its area."""
    activity = _managed(request, activity_id)
    if which not in POSTERS:
        raise Http404
    return _poster_page(request, activity, which)


@organisers_only
def poster_png(request: HttpRequest, activity_id: int, which: str) -> HttpResponse:
    """The poster as PNG. Who: organisers of its area."""
    activity = _managed(request, activity_id)
    if which not in POSTERS:
        raise Http404
    response = HttpResponse(
        activity_poster(request, activity, which).png(), content_type="image/png"
    )
    response["Content-Disposition"] = f'attachment; filename="activity-{activity.pk}-{which}.png"'
    return response


@organisers_only
def poster_qr(request: HttpRequest, activity_id: int, which: str) -> HttpResponse:
    """The bare QR code as PNG. Who: organisers of its area."""
    activity = _managed(request, activity_id)
    if which not in POSTERS:
        raise Http404
    url = share_url(request, activity) if which == "share" else checkin_url(request, activity)
    return HttpResponse(qr.qr_png(url), content_type="image/png")
