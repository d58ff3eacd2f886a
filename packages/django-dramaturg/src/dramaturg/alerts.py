"""Mail to ADMINS when a health check changes state: what changed, the throttle, and the rows.

A periodic actor (`dramaturg.actors.check_health`) runs the checks of `dramaturg.health` and compares the
problems with what the admins were last told, per (check, subject): a new problem owes a FAILING
mail, a problem gone owes a RECOVERED one. The database holds that state (`HealthAlert` rows,
the last one per key), so it survives a restart or a Redis loss and every worker shares it.
A FAILING mail goes out at most once per JOBS_HEALTH_ALERT_INTERVAL_S per key (a flapping check
does not flood the admins); a RECOVERED mail always follows a FAILING one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone

from dramaturg import conf

from .health import Problem
from .models import HealthAlert

FAILING, RECOVERED = HealthAlert.State.FAILING, HealthAlert.State.RECOVERED
Key = tuple[str, str]  # (check, subject)


def enabled() -> bool:
    """DRAMATURG['ALERTS']['ENABLED'] (None, the default: on when ADMINS is set); never with no ADMINS to mail."""
    return conf.settings.ALERTS.ENABLED is not False and bool(settings.ADMINS)


@dataclass(frozen=True)
class Known:
    """What the admins were last told about one (check, subject)."""

    seq: int
    state: str
    message: str
    last_failing_at: datetime  # when the last FAILING mail was recorded (the throttle counts from it)


@dataclass(frozen=True)
class Change:
    check: str
    subject: str
    seq: int
    state: str
    message: str
    failing_since: datetime | None = None  # on RECOVERED


def changes(problems: Iterable[Problem], known: dict[Key, Known], now: datetime, interval_s: int) -> list[Change]:
    """The state changes owed a mail, FAILING ones first. Pure: no database, no Redis.

    A problem not known as failing owes a FAILING mail, unless the last FAILING mail of its key is
    younger than `interval_s` (it flaps: it will be mailed on a later run if it is still failing
    then). A key known as failing whose problem is gone owes a RECOVERED mail.
    """
    current = {(p.check, p.subject): p for p in problems}
    owed: list[Change] = []
    for key, problem in sorted(current.items()):
        last = known.get(key)
        if last is not None and last.state == FAILING:
            continue
        if last is not None and now - last.last_failing_at < timedelta(seconds=interval_s):
            continue
        owed.append(Change(*key, seq=last.seq + 1 if last else 1, state=FAILING, message=problem.message))
    for key, last in sorted(known.items()):
        if last.state == FAILING and key not in current:
            owed.append(
                Change(
                    *key, seq=last.seq + 1, state=RECOVERED, message=last.message, failing_since=last.last_failing_at
                )
            )
    return owed


def _newer_rows() -> QuerySet[HealthAlert]:
    """Rows of the outer row's (check, subject) recorded after it (for Exists: is it the last?)."""
    return HealthAlert.objects.filter(
        check_name=OuterRef("check_name"), subject=OuterRef("subject"), seq__gt=OuterRef("seq")
    )


def known_states() -> dict[Key, Known]:
    """The last row of every (check, subject): what the admins know."""
    newer = _newer_rows()
    latest = HealthAlert.objects.filter(~Exists(newer)).values_list(
        "check_name", "subject", "seq", "state", "message", "created_at", "failing_since"
    )
    return {
        (check, subject): Known(seq, state, message, created_at if state == FAILING else failing_since or created_at)
        for check, subject, seq, state, message, created_at, failing_since in latest
    }


def record(owed: Iterable[Change], enqueue: Callable[[int], object], now: datetime | None = None) -> list[HealthAlert]:
    """Record each change with its send job (`enqueue(alert_id)`, an outbox call) in one transaction.

    A change another run recorded first (same key and seq) is skipped: of two runs at the same
    minute, one records it and one mail goes out.
    """
    now = now or timezone.now()
    recorded = []
    for change in owed:
        try:
            with transaction.atomic():
                alert = HealthAlert.objects.create(
                    created_at=now,
                    check_name=change.check[:100],
                    subject=change.subject[:200],
                    seq=change.seq,
                    state=change.state,
                    message=change.message,
                    failing_since=change.failing_since,
                )
                enqueue(alert.pk)
        except IntegrityError:
            continue
        recorded.append(alert)
    return recorded


def mail_subject(alert: HealthAlert) -> str:
    """The subject, FAILING or RECOVERED then the problem's line, in English whatever the language
    active (mail_admins adds EMAIL_SUBJECT_PREFIX)."""
    return f"{alert.state.upper()}: {alert.check_name} {alert.subject}: {alert.message}"


def _local(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def mail_body(alert: HealthAlert) -> str:
    """What changed and when, then where to look."""
    line = f"{alert.check_name} {alert.subject}: {alert.message}"
    if alert.state == FAILING:
        paragraphs = [
            f"Failing, seen at {_local(alert.created_at)}:\n\n    {line}",
            "A RECOVERED mail follows when the problem is gone.\nWhile it comes and goes, a FAILING mail "
            f"about it goes out at most once per {conf.settings.ALERTS.INTERVAL_S} s.",
        ]
    else:
        since = alert.failing_since or alert.created_at
        seconds = max((alert.created_at - since).total_seconds(), 0)
        lasted = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
        paragraphs = [
            f"Recovered at {_local(alert.created_at)}, after {lasted} (failing since {_local(since)}):\n\n    {line}"
        ]
    base = conf.settings.ALERTS.BASE_URL.rstrip("/")
    paragraphs.append(
        f"All checks now: {base}{reverse('dramaturg:health')} (`manage.py check_jobs`)\n"
        f"Queues and workers: {base}{reverse('dramaturg:overview')}"
    )
    return "\n\n".join(paragraphs) + "\n"


def prune(older_than: timedelta = timedelta(days=90)) -> int:
    """Forget settled alerts after a while, but never the last of a key (it is the known state)."""
    newer = _newer_rows()
    deleted, _ = HealthAlert.objects.filter(
        Exists(newer),
        created_at__lt=timezone.now() - older_than,
        status__in=[HealthAlert.Status.SENT, HealthAlert.Status.FAILED],
    ).delete()
    return deleted
