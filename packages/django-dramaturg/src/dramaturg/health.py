"""Health checks of the job system: `manage.py check_jobs` and /jobs/health.

Each check returns the problems it sees (an empty list: healthy). Thresholds are settings
(JOBS_HEALTH_*); other apps add checks through JOBS_HEALTH_EXTRA_CHECKS (dotted paths of
functions returning a list of Problem), so the job platform imports no app of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Min
from django.utils.module_loading import import_string

from dramaturg import conf

from . import dbconnections
from .mail import outbox as outbox_email
from .models import OutboxEmail
from .monitoring import Snapshot, snapshot
from .store import dead_letters, delayed
from .timeutil import now_ms


@dataclass(frozen=True)
class Problem:
    check: str  # which check: dead_letters, oldest_ready, no_worker, outbox, outbox_emails, or an app's own
    subject: str  # what it is about: a queue name, "outbox", ...
    message: str  # one line, in English: /jobs/health, check_jobs and the alert mails show it
    # Optional, for the console's health banner: the line in the page's language (gettext) and the page that
    # shows what fails. Without them the banner shows `line()` and links to /jobs/health.
    text: str = ""
    url: str = ""

    def line(self) -> str:
        return f"{self.check} {self.subject}: {self.message}"


def check_dead_letters(snap: Snapshot) -> list[Problem]:
    window_s = conf.settings.HEALTH.DEAD_LETTERS_WINDOW_S
    limit = conf.settings.HEALTH.DEAD_LETTERS_MAX
    # An operator's kill is an intent, not a failure: it is not counted.
    recent = dead_letters.count_dead_since(
        [q.name for q in snap.queues], now_ms() - window_s * 1000, except_exceptions=[delayed.KILLED]
    )
    return [
        Problem("dead_letters", queue, f"{n} dead letters in the last {window_s // 60} min (more than {limit})")
        for queue, n in sorted(recent.items())
        if n > limit
    ]


def check_oldest_ready(snap: Snapshot) -> list[Problem]:
    limit = conf.settings.HEALTH.OLDEST_READY_S
    return [
        Problem(
            "oldest_ready",
            q.name,
            f"a ready message has waited {q.oldest_ready_age_s:.0f} s (more than "
            f"{limit} s)" + (" while the queue is paused" if q.paused else ""),
        )
        for q in snap.queues
        if q.oldest_ready_age_s > limit
    ]


def check_workers(snap: Snapshot) -> list[Problem]:
    """A queue with messages waiting (ready or delayed) and no live worker consuming it."""
    return [
        Problem(
            "no_worker",
            q.name,
            f"{q.counts.ready} ready and {q.counts.delayed} delayed messages and no live worker consumes the queue",
        )
        for q in snap.queues
        if not q.workers_alive and (q.counts.ready or q.counts.delayed)
    ]


def check_outbox(snap: Snapshot) -> list[Problem]:
    limit = conf.settings.HEALTH.OUTBOX_AGE_S
    return [
        Problem(
            "outbox",
            b.queue,
            f"{b.pending} outbox rows pending, the oldest for "
            f"{b.age_s(snap.taken_at):.0f} s (more than {limit} s): is the relay running "
            "and Redis reachable?",
        )
        for b in snap.outbox
        if b.age_s(snap.taken_at) > limit
    ]


def check_outbox_emails(snap: Snapshot) -> list[Problem]:
    """Outbox emails still owed (not sent, cancelled nor failed for good: owed, retrying or outcome unknown)
    longer than HEALTH.OUTBOX_EMAIL_OWED_S after send(): a mail server down, no worker, or a job lost."""
    limit = conf.settings.HEALTH.OUTBOX_EMAIL_OWED_S
    owed = (
        outbox_email.state_filter("owed") | outbox_email.state_filter("retrying") | outbox_email.state_filter("unknown")
    )
    try:
        late = OutboxEmail.objects.filter(owed, created_at__lte=snap.taken_at - timedelta(seconds=limit))
        found = late.aggregate(count=Count("pk"), oldest=Min("created_at"))
    except dbconnections.UNAVAILABLE_ERRORS as error:
        return [Problem("outbox_emails", "database", f"the outbox emails could not be read: {error}")]
    if not found["count"]:
        return []
    age_s = (snap.taken_at - found["oldest"]).total_seconds()
    return [
        Problem(
            "outbox_emails",
            "outbox emails",
            f"{found['count']} outbox emails owed for more than {limit} s, the oldest for {age_s:.0f} s: "
            "is the mail server refusing, or no worker consuming the email queue?",
        )
    ]


CHECKS: list[Callable[[Snapshot], list[Problem]]] = [
    check_dead_letters,
    check_oldest_ready,
    check_workers,
    check_outbox,
    check_outbox_emails,
]


@dataclass(frozen=True)
class Report:
    problems: list[Problem]
    checks: list[str]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.healthy else "failing",
            "checks": self.checks,
            "problems": [{"check": p.check, "subject": p.subject, "message": p.message} for p in self.problems],
        }


def run_checks(snap: Snapshot | None = None) -> Report:
    """Every check, the job platform's and the apps' (JOBS_HEALTH_EXTRA_CHECKS)."""
    snap = snap if snap is not None else snapshot(actors=False)
    problems: list[Problem] = []
    names = []
    for check in CHECKS:
        names.append(check.__name__.removeprefix("check_"))
        problems.extend(check(snap))
    for path in conf.settings.HEALTH.EXTRA_CHECKS:
        names.append(path)
        problems.extend(import_string(path)())
    return Report(problems, names)
