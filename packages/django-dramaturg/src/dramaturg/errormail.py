"""Django's error mails to ADMINS, recorded rather than sent in the request, and throttled.

`dramaturg.log.AdminEmailHandler` hands each mail to `record`, which sends it with Django's `mail_admins`
through the outbox email backend (`dramaturg.mail.OutboxEmailBackend`: an `OutboxEmail` row and its job in
one transaction, sent once by a worker). A subject already mailed within ERROR_MAIL['INTERVAL_S'], or more than
ERROR_MAIL['MAX'] mails to ADMINS in that interval, is not recorded: a flood of errors is a handful of mails,
and the logs keep every error. The throttle counts the outbox rows, so the mailer named must be an outbox one.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from dramaturg import conf

from .models import OutboxEmail


def record(subject: str, body: str, *, using: str | None = None) -> bool:
    """Mail one error to ADMINS through the mailer `using` (MAILERS' default if None), unless the
    throttle leaves it out; returns whether it was recorded."""
    since = timezone.now() - timedelta(seconds=conf.settings.ERROR_MAIL.INTERVAL_S)
    with transaction.atomic():
        recent = OutboxEmail.objects.filter(created_at__gte=since, to=list(settings.ADMINS))
        if (
            recent.filter(subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}").exists()
            or recent.count() >= conf.settings.ERROR_MAIL.MAX
        ):
            return False
        mail_admins(subject, body, using=using)
    return True
