"""Signal receivers of the accounts app, connected in AccountsConfig.ready()."""
from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.utils import timezone

from .models import EmailDelivery, LoginEvent

logger = logging.getLogger(__name__)


def enqueue_welcome_email(user_id: int) -> None:
    """Hand the welcome email to a worker; never let the broker fail the signup.

    If Redis is unreachable the delivery row stays pending with no attempt, and the
    periodic `requeue_unsent_welcome_emails` actor enqueues it again later.
    """
    from .tasks import send_welcome_email

    try:
        send_welcome_email.send(user_id)
    except Exception:
        logger.exception("Could not enqueue the welcome email for user %s; the sweep will retry it", user_id)


def queue_welcome_email(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    # Recorded in the signup's own transaction: a rolled-back signup owes nothing,
    # a committed one always leaves a trace of the email it is owed.
    EmailDelivery.objects.get_or_create(user=instance, kind=EmailDelivery.Kind.WELCOME)
    transaction.on_commit(partial(enqueue_welcome_email, instance.pk), robust=True)


def record_login(sender, request, user, **kwargs) -> None:
    LoginEvent.objects.create(user=user, at=timezone.now())


def connect() -> None:
    post_save.connect(queue_welcome_email, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.welcome_email")
    user_logged_in.connect(record_login, dispatch_uid="accounts.record_login")
