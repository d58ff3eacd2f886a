"""Django's error mails to ADMINS, recorded rather than sent in the request, and throttled.

`dramaturg.log.AdminEmailHandler` hands each mail to `record`, which keeps it as an
`AdminErrorMail` row with its send job in one transaction (the outbox, as `dramaturg.alerts` does for
health alerts); `dramaturg.actors.send_admin_error_mail` sends it once. A subject already mailed within
ADMIN_ERROR_MAIL_INTERVAL_S, or more than ADMIN_ERROR_MAIL_MAX mails in that interval, is not
recorded: a flood of errors is a handful of mails, and the logs keep every error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dramaturg import conf

from .models import AdminErrorMail

SUBJECT_CHARS = 255


def record(subject: str, body: str, enqueue: Callable[[int], object]) -> AdminErrorMail | None:
    """Record one error mail and its send job (`enqueue(mail_id)`, an outbox call) in one transaction;
    None when the throttle leaves it out."""
    subject = subject[:SUBJECT_CHARS]
    since = timezone.now() - timedelta(seconds=conf.settings.ERROR_MAIL.INTERVAL_S)
    with transaction.atomic():
        recent = AdminErrorMail.objects.filter(created_at__gte=since)
        if recent.filter(subject=subject).exists() or recent.count() >= conf.settings.ERROR_MAIL.MAX:
            return None
        mail = AdminErrorMail.objects.create(subject=subject, body=body)
        enqueue(mail.pk)
    return mail


def prune(older_than: timedelta = timedelta(days=30)) -> int:
    """Forget error mails settled long ago (the throttle only looks one interval back)."""
    deleted, _ = AdminErrorMail.objects.filter(
        created_at__lt=timezone.now() - older_than, status__in=["sent", "failed"]
    ).delete()
    return deleted
