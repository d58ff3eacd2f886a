"""The daily activity figures: SQL aggregates over one user-id range, and their merge.

Definitions (all days are local days in TIME_ZONE):
- signups: users who joined that day; by hour of joining.
- emails sent / failed / pending: the welcome emails of that day's signups, by
  delivery status (no delivery row yet counts as pending).
- email delay: whole seconds from joining to the welcome email being sent
  (floor of the millisecond-rounded difference), for that day's sent emails;
  median and p95 by nearest rank, and the max.
- logins, active users: logins that day, and distinct users who logged in.
- 7-day retention: of the users who joined 7 days earlier, the share who logged
  in at least once in the 7 days after their signup day (day-6 ... day).
Every figure of a chunk is a count or a histogram, so chunks merge by addition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, Func, IntegerField, OuterRef
from django.db.models.functions import ExtractHour
from django.utils.translation import gettext as _

from accounts.models import EmailDelivery, LoginEvent, User

from .periods import day_bounds, zone


class DelaySeconds(Func):
    """Whole seconds from `start` to `end`, computed in the database."""

    output_field = IntegerField()

    def __init__(self, end: str, start: str) -> None:
        super().__init__(end, start)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            arg_joiner=") - julianday(",
            template="(CAST(ROUND((julianday(%(expressions)s)) * 86400000) AS INTEGER) / 1000)",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            arg_joiner=" - ",
            template="FLOOR(ROUND(EXTRACT(EPOCH FROM (%(expressions)s)) * 1000) / 1000)::integer",
            **extra,
        )


def _by_hour(queryset, field: str) -> list[int]:
    hours = [0] * 24
    for row in queryset.annotate(hour=ExtractHour(field, tzinfo=zone())).values("hour").annotate(n=Count("pk")):
        hours[row["hour"]] += row["n"]
    return hours


def chunk_metrics(day: date, first_user_id: int, end_user_id: int) -> dict[str, Any]:
    """The day's figures for users with first_user_id <= id < end_user_id."""
    start, end = day_bounds(day)
    # Staff accounts (operators, the dev admin) are not signups nor user activity.
    users = User.objects.filter(pk__gte=first_user_id, pk__lt=end_user_id, is_staff=False)
    signups = users.filter(date_joined__gte=start, date_joined__lt=end)
    signup_count = signups.count()

    deliveries = EmailDelivery.objects.filter(
        user_id__gte=first_user_id,
        user_id__lt=end_user_id,
        user__date_joined__gte=start,
        user__date_joined__lt=end,
        user__is_staff=False,
    )
    by_status = dict(deliveries.values_list("status").annotate(n=Count("pk")))
    delays = (
        deliveries.filter(sent_at__isnull=False)
        .annotate(delay=DelaySeconds("sent_at", "user__date_joined"))
        .values_list("delay")
        .annotate(n=Count("pk"))
    )

    logins = LoginEvent.objects.filter(
        user_id__gte=first_user_id, user_id__lt=end_user_id, at__gte=start, at__lt=end, user__is_staff=False
    )
    login_totals = logins.aggregate(logins=Count("pk"), active=Count("user_id", distinct=True))

    cohort_day = day - timedelta(days=7)
    cohort_start, cohort_end = day_bounds(cohort_day)
    window_start, _ = day_bounds(cohort_day + timedelta(days=1))
    cohort = users.filter(date_joined__gte=cohort_start, date_joined__lt=cohort_end)
    retained = cohort.filter(Exists(LoginEvent.objects.filter(user=OuterRef("pk"), at__gte=window_start, at__lt=end)))

    sent = by_status.get(EmailDelivery.Status.SENT, 0)
    failed = by_status.get(EmailDelivery.Status.FAILED, 0)
    return {
        "signups": signup_count,
        "signups_by_hour": _by_hour(signups, "date_joined"),
        "emails": {"sent": sent, "failed": failed, "pending": signup_count - sent - failed},
        "delay_histogram": {str(seconds): n for seconds, n in delays},
        "logins": login_totals["logins"],
        "active_users": login_totals["active"],
        "logins_by_hour": _by_hour(logins, "at"),
        "retention": {"cohort_day": cohort_day.isoformat(), "cohort": cohort.count(), "retained": retained.count()},
        "users_scanned": users.count(),
    }


def nearest_rank(sorted_values: list[int], counts: list[int], percent: float) -> int | None:
    """The smallest value whose cumulative count reaches percent% of all (nearest-rank percentile)."""
    total = sum(counts)
    if not total:
        return None
    rank = max(math.ceil(percent / 100 * total), 1)
    seen = 0
    for value, count in zip(sorted_values, counts, strict=True):
        seen += count
        if seen >= rank:
            return value
    return sorted_values[-1]


def merge(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Add chunk (or daily) results together and derive the percentiles and rates."""
    parts = list(parts)
    histogram: Counter[int] = Counter()
    total: dict[str, Any] = {
        "signups": 0,
        "signups_by_hour": [0] * 24,
        "emails": {"sent": 0, "failed": 0, "pending": 0},
        "logins": 0,
        "active_users": 0,
        "logins_by_hour": [0] * 24,
        "retention": {"cohort": 0, "retained": 0},
        "users_scanned": 0,
    }
    for part in parts:
        for key in ("signups", "logins", "active_users", "users_scanned"):
            total[key] += part[key]
        for key in ("signups_by_hour", "logins_by_hour"):
            total[key] = [a + b for a, b in zip(total[key], part[key], strict=True)]
        for key in total["emails"]:
            total["emails"][key] += part["emails"][key]
        for key in ("cohort", "retained"):
            total["retention"][key] += part["retention"][key]
        histogram.update({int(k): v for k, v in part["delay_histogram"].items()})
    if parts and "cohort_day" in parts[0]["retention"]:
        total["retention"]["cohort_day"] = parts[0]["retention"]["cohort_day"]
    cohort = total["retention"]["cohort"]
    total["retention"]["rate"] = round(total["retention"]["retained"] / cohort, 4) if cohort else None
    values = sorted(histogram)
    counts = [histogram[v] for v in values]
    total["delay_histogram"] = {str(v): histogram[v] for v in values}
    total["email_delay"] = {
        "median": nearest_rank(values, counts, 50),
        "p95": nearest_rank(values, counts, 95),
        "max": values[-1] if values else None,
    }
    return total


DELAY_BUCKETS = [(0, 10), (10, 30), (30, 60), (60, 120), (120, 300), (300, 600), (600, 1800), (1800, None)]


def delay_distribution(histogram: dict[str, int]) -> list[tuple[str, int]]:
    """The delay histogram folded into a few readable buckets for the chart (labels in the active language)."""
    rows = []
    for low, high in DELAY_BUCKETS:
        # Translators: a range of delays in seconds, e.g. "10-30s"; the last one is open-ended, "1800s+".
        label = _("%(low)d-%(high)ds") % {"low": low, "high": high} if high else _("%(low)ds+") % {"low": low}
        rows.append((label, sum(n for s, n in histogram.items() if int(s) >= low and (high is None or int(s) < high))))
    return rows
