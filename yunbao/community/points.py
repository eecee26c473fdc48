"""Points (积分): derived from the orders' timeline, capped per day, ranked per village.

Why a periodic job and not a subscriber on order moves: the report path is kept free of any
cost of ours. `sync_points` (every five minutes, `community-points`) reads the timeline rows
written since its last run — `accept` (a report became a valid order), `void` (a valid order
was voided after all) — and new "me too"s, and writes `PointEntry` rows:

- a **valid report**: an order reported on the report page (`Source.RESIDENT`, with an
  intake `Submission`) that was accepted and is not rejected, merged or voided earns the
  `report` rule's points for the phone or account that sent it. A rejected or merged
  (duplicate) report is never accepted, so it never earns; a voided one loses its entry.
- a **confirmed "me too"**: a `MeToo` on an order that was accepted (the problem was real)
  earns the `me_too` rule's points.
- **volunteer hours** are written at check-out by `yunbao.community.actions` (`award_hours`).

Each rule may have a daily cap (points of that kind per person per local day, by the day
the report or confirmation was made): what goes over is recorded with the points cut
(`capped`), so it is never counted later either. Entry keys are unique: a second run, a
concurrent run or a run over an overlapping window adds nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from yunbao.community.models import (
    Level,
    Participant,
    PointEntry,
    PointKind,
    PointRule,
    SignUp,
    SyncState,
)
from yunbao.geo.models import Area
from yunbao.geo.models import Level as AreaLevel
from yunbao.intake.models import MeToo, Submission
from yunbao.workorders.models import Source, Status, TimelineEntry, WorkOrder

log = logging.getLogger(__name__)

# Statuses of an order that earns nothing, whatever happened before.
INVALID = (Status.REJECTED, Status.MERGED, Status.VOIDED)
# The job rereads this much before its last run: a transaction that committed after the
# previous run may carry an earlier timeline time.
OVERLAP = timedelta(minutes=10)
CURSOR = "points"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
LEADERBOARD_SIZE = 20


@dataclass
class SyncResult:
    reports: int = 0
    me_toos: int = 0
    revoked: int = 0


def rules() -> dict[str, PointRule]:
    """The active rules by kind (a kind without an active rule earns nothing)."""
    return {r.kind: r for r in PointRule.objects.filter(active=True)}


def participant_for(*, user: Any = None, device: str = "") -> Participant:
    """The participant of this account or phone, created when new.

    An account wins over a device: a phone that signed up anonymously and later logs in
    becomes that account's participant (when the account has none yet).
    """
    device = (device or "")[:64]
    if user is not None and getattr(user, "is_authenticated", False):
        found = Participant.objects.filter(user_id=user.pk).first()
        if found is not None:
            return found
        if device:
            by_device = Participant.objects.filter(device=device, user__isnull=True).first()
            if by_device is not None:
                by_device.user = user
                by_device.save(update_fields=["user"])
                return by_device
        taken = bool(device) and Participant.objects.filter(device=device).exists()
        participant, _ = Participant.objects.get_or_create(
            user=user, defaults={"device": "" if taken else device}
        )
        return participant
    if not device:
        raise ValueError("participant_for needs an account or a device token")
    participant, _ = Participant.objects.get_or_create(device=device)
    return participant


def _village_id(order: WorkOrder, villages: dict[int, int | None]) -> int | None:
    """The village (community) an order lies in, from its grid's parent."""
    if order.grid_id is None:
        return None
    return villages.get(order.grid_id)


def _local_day(at: datetime) -> Any:
    return timezone.localtime(at).date()


class _Ledger:
    """Points already counted per (participant, kind, day), for the caps of one run."""

    def __init__(self, rules: dict[str, PointRule]) -> None:
        self.rules = rules
        self.used: dict[tuple[int, str, Any], int] = {}

    def grant(self, participant_id: int, kind: str, day: Any, wanted: int) -> tuple[int, bool]:
        rule = self.rules[kind]
        if not rule.daily_cap:
            return wanted, False
        key = (participant_id, kind, day)
        if key not in self.used:
            self.used[key] = (
                PointEntry.objects.filter(
                    participant_id=participant_id, kind=kind, day=day
                ).aggregate(n=Sum("points"))["n"]
                or 0
            )
        granted = max(0, min(wanted, rule.daily_cap - self.used[key]))
        self.used[key] += granted
        return granted, granted < wanted


def sync_points(*, now: datetime | None = None, since: datetime | None = None) -> SyncResult:
    """Write the points earned since the last run (see the module docstring)."""
    now = now or timezone.now()
    result = SyncResult()
    with transaction.atomic():
        state, _ = SyncState.objects.select_for_update().get_or_create(
            name=CURSOR, defaults={"at": EPOCH}
        )
        start = since if since is not None else state.at - OVERLAP
        active = rules()
        ledger = _Ledger(active)
        moves = TimelineEntry.objects.filter(at__gte=start, at__lte=now)
        accepted = set(moves.filter(action="accept").values_list("order_id", flat=True))
        voided = set(moves.filter(action="void").values_list("order_id", flat=True))
        if PointKind.REPORT in active:
            result.reports = _reports(accepted, ledger)
        if PointKind.ME_TOO in active:
            result.me_toos = _me_toos(accepted, start, now, ledger)
        if voided:
            revoked, _ = PointEntry.objects.filter(
                order_id__in=voided,
                order__status__in=INVALID,
                kind__in=[PointKind.REPORT, PointKind.ME_TOO],
            ).delete()
            result.revoked = revoked
        state.at = now
        state.save(update_fields=["at"])
    if result.reports or result.me_toos or result.revoked:
        log.info(
            "points: %d reports, %d me-toos, %d revoked",
            result.reports,
            result.me_toos,
            result.revoked,
        )
    return result


def _valid_orders(order_ids: set[int]) -> Any:
    return WorkOrder.objects.filter(
        pk__in=order_ids,
        accepted_at__isnull=False,
        duplicate_of__isnull=True,
        source=Source.RESIDENT,
    ).exclude(status__in=INVALID)


def _villages(grid_ids: set[int]) -> dict[int, int | None]:
    return dict(
        Area.objects.filter(pk__in=grid_ids, level=AreaLevel.GRID).values_list("pk", "parent_id")
    )


def _reports(order_ids: set[int], ledger: _Ledger) -> int:
    if not order_ids:
        return 0
    done = set(
        PointEntry.objects.filter(order_id__in=order_ids, kind=PointKind.REPORT).values_list(
            "order_id", flat=True
        )
    )
    submissions = list(
        Submission.objects.filter(order__in=_valid_orders(order_ids - done))
        .select_related("order")
        .order_by("order__created_at", "order_id")
    )
    villages = _villages({s.order.grid_id for s in submissions if s.order.grid_id})
    rule = ledger.rules[PointKind.REPORT]
    entries = []
    for submission in submissions:
        if not submission.user_id and not submission.device:
            continue
        participant = participant_for(user=submission.user, device=submission.device)
        order = submission.order
        day = _local_day(order.created_at)
        points, capped = ledger.grant(participant.pk, PointKind.REPORT, day, rule.points)
        entries.append(
            PointEntry(
                participant=participant,
                kind=PointKind.REPORT,
                key=f"report:{order.pk}",
                points=points,
                capped=capped,
                day=day,
                at=order.accepted_at or order.created_at,
                order=order,
                area_id=_village_id(order, villages),
            )
        )
    PointEntry.objects.bulk_create(entries, ignore_conflicts=True)
    return len(entries)


def _me_toos(order_ids: set[int], start: datetime, now: datetime, ledger: _Ledger) -> int:
    # "Me too"s of orders accepted in the window, and new ones of orders accepted before.
    confirmations = (
        MeToo.objects.filter(
            Q(order_id__in=order_ids) | Q(created_at__gte=start, created_at__lte=now),
            order__accepted_at__isnull=False,
            order__duplicate_of__isnull=True,
        )
        .exclude(order__status__in=INVALID)
        .select_related("order")
        .order_by("created_at", "id")
    )
    rows = list(confirmations)
    done = set(
        PointEntry.objects.filter(key__in=[f"me_too:{m.pk}" for m in rows]).values_list(
            "key", flat=True
        )
    )
    rows = [m for m in rows if f"me_too:{m.pk}" not in done]
    villages = _villages({m.order.grid_id for m in rows if m.order.grid_id})
    rule = ledger.rules[PointKind.ME_TOO]
    entries = []
    for confirmation in rows:
        # The device column holds "user:<id>" for an account without a device token.
        device = "" if confirmation.device.startswith("user:") else confirmation.device
        if confirmation.user_id is None and not device:
            continue
        participant = participant_for(user=confirmation.user, device=device)
        day = _local_day(confirmation.created_at)
        points, capped = ledger.grant(participant.pk, PointKind.ME_TOO, day, rule.points)
        entries.append(
            PointEntry(
                participant=participant,
                kind=PointKind.ME_TOO,
                key=f"me_too:{confirmation.pk}",
                points=points,
                capped=capped,
                day=day,
                at=confirmation.created_at,
                order=confirmation.order,
                area_id=_village_id(confirmation.order, villages),
            )
        )
    PointEntry.objects.bulk_create(entries, ignore_conflicts=True)
    return len(entries)


def hours_points(signup: SignUp) -> tuple[int, bool]:
    """Points for a sign-up's service hours under the `volunteer` rule (per whole hour's
    share, rounded down) and whether the daily cap cut them."""
    rule = rules().get(PointKind.VOLUNTEER)
    if rule is None or signup.checked_out_at is None:
        return 0, False
    wanted = int((signup.hours * rule.points).to_integral_value(rounding=ROUND_DOWN))
    if not rule.daily_cap:
        return wanted, False
    day = _local_day(signup.checked_out_at)
    used = (
        PointEntry.objects.filter(
            participant_id=signup.participant_id, kind=PointKind.VOLUNTEER, day=day
        )
        .exclude(key=f"volunteer:{signup.pk}")
        .aggregate(n=Sum("points"))["n"]
        or 0
    )
    granted = max(0, min(wanted, rule.daily_cap - used))
    return granted, granted < wanted


def award_hours(signup: SignUp) -> PointEntry | None:
    """Write (or rewrite, when the hours changed) the sign-up's volunteer points entry.
    Called inside the check-out or hours action's transaction."""
    key = f"volunteer:{signup.pk}"
    if signup.checked_out_at is None or signup.hours <= 0:
        PointEntry.objects.filter(key=key).delete()
        return None
    points, capped = hours_points(signup)
    entry, _ = PointEntry.objects.update_or_create(
        key=key,
        defaults={
            "participant_id": signup.participant_id,
            "kind": PointKind.VOLUNTEER,
            "points": points,
            "capped": capped,
            "day": _local_day(signup.checked_out_at),
            "at": signup.checked_out_at,
            "activity_id": signup.activity_id,
            "area_id": signup.activity.area_id,
        },
    )
    return entry


# --- Reading -----------------------------------------------------------------------------


def total(participant: Participant) -> int:
    return participant.points.aggregate(n=Sum("points"))["n"] or 0


@dataclass
class Standing:
    points: int
    level: Level | None
    next_level: Level | None

    @property
    def to_next(self) -> int | None:
        return None if self.next_level is None else self.next_level.min_points - self.points


def standing(points: int) -> Standing:
    levels = list(Level.objects.order_by("min_points"))
    reached = [lv for lv in levels if lv.min_points <= points]
    ahead = [lv for lv in levels if lv.min_points > points]
    return Standing(points, reached[-1] if reached else None, ahead[0] if ahead else None)


@dataclass
class Rank:
    position: int
    name: str
    points: int
    level: Level | None


def leaderboard(village: Area, *, size: int = LEADERBOARD_SIZE) -> list[Rank]:
    """The participants with the most points earned in `village` (nicknames only)."""
    rows = list(
        PointEntry.objects.filter(area__path__startswith=village.path)
        .values("participant_id")
        .annotate(n=Sum("points"))
        .filter(n__gt=0)
        .order_by("-n", "participant_id")[:size]
    )
    people = Participant.objects.in_bulk([r["participant_id"] for r in rows])
    levels = list(Level.objects.order_by("min_points"))
    ranks = []
    for position, row in enumerate(rows, start=1):
        reached = [lv for lv in levels if lv.min_points <= row["n"]]
        ranks.append(
            Rank(
                position,
                people[row["participant_id"]].public_name,
                row["n"],
                reached[-1] if reached else None,
            )
        )
    return ranks


def hours_total(participant: Participant) -> Decimal:
    return participant.signups.aggregate(h=Sum("hours"))["h"] or Decimal(0)


def grouped_totals(entries: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for kind, n in entries.values_list("kind").annotate(n=Sum("points")).values_list("kind", "n"):
        out[kind] = n or 0
    return dict(out)
