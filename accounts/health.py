"""The accounts app's health check for dramaturg.health (listed in JOBS_HEALTH_EXTRA_CHECKS)."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

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
    deliveries = reverse("admin:accounts_emaildelivery_changelist")
    problems = []
    if count:
        after_s = conf.settings.SEND_ONCE.RECONCILE_AFTER_S
        problems.append(
            Problem(
                "owed_emails",
                "emails",
                f"{count} emails owed for more than {after_s} s",
                text=gettext("%(count)s emails owed for more than %(seconds)s s.")
                % {"count": count, "seconds": after_s},
                url=f"{deliveries}?status__in=pending,sending",
            )
        )
    if unknown:
        resend_s = conf.settings.SEND_ONCE.UNKNOWN_RESEND_AFTER_S
        problems.append(
            Problem(
                "owed_emails",
                "outcome unknown",
                f"{unknown} emails handed to the mail server without an answer; each is sent once more "
                f"{resend_s} s after",
                text=gettext(
                    "%(count)s emails handed to the mail server without an answer; "
                    "each is sent once more %(seconds)s s after."
                )
                % {"count": unknown, "seconds": resend_s},
                url=f"{deliveries}?status__exact=unknown",
            )
        )
    return problems
