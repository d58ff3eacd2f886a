"""The accounts app's health check for dramaturg.health (listed in JOBS_HEALTH_EXTRA_CHECKS)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from dramaturg import conf
from dramaturg.health import Problem

from .models import EmailDelivery


def owed_emails() -> list[Problem]:
    """Emails still owed (not sent, not finally failed) longer than the reconcile threshold
    after their signup: their jobs are lost, stuck or failing, even if the reconciler re-sent them.
    And emails whose outcome is unknown (no answer after the hand-over): an operator may know better."""
    cutoff = timezone.now() - timedelta(seconds=conf.settings.SEND_ONCE.RECONCILE_AFTER_S)
    owed = [EmailDelivery.Status.PENDING, EmailDelivery.Status.SENDING]  # the status index finds the few owed rows
    count = EmailDelivery.objects.filter(status__in=owed, created_at__lte=cutoff).count()
    unknown = EmailDelivery.objects.filter(status=EmailDelivery.Status.UNKNOWN).count()
    problems = []
    if count:
        problems.append(
            Problem(
                "owed_emails",
                "emails",
                f"{count} emails owed for more than {conf.settings.SEND_ONCE.RECONCILE_AFTER_S} s",
            )
        )
    if unknown:
        problems.append(
            Problem(
                "owed_emails",
                "outcome unknown",
                f"{unknown} emails handed to the mail server without an answer; each is sent once more "
                f"{conf.settings.SEND_ONCE.UNKNOWN_RESEND_AFTER_S} s after",
            )
        )
    return problems
