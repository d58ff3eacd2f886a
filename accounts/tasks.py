"""Actors of the accounts app. They take ids, never objects, and are safe to run twice.

The welcome email is a dedicated actor with its own send-once row (EmailDelivery), triggered by the
post_save signal; every other email of the app is plain Django mail through the outbox backend.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

import dramatiq
import redis
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db import InterfaceError, OperationalError, transaction
from dramatiq.errors import BrokerConnectionError
from periodiq import cron

from dramaturg import conf, sendonce
from dramaturg.mail import sending_alias

from . import deliveries
from .emails import PASSWORD_RESET, welcome_email
from .models import EmailDelivery, User
from .notices import send_throttled

logger = logging.getLogger(__name__)

EMAILS = settings.DRAMATIQ_QUEUE_EMAILS


@dramatiq.actor(**sendonce.email_actor_options())
def send_welcome_email(user_id: int) -> None:
    """Claim, send and settle the user's welcome delivery; a sent one is never sent again."""
    try:
        welcome = deliveries.welcome_delivery(user_id)
    except User.DoesNotExist:
        logger.info("User %s no longer exists; no welcome email to send", user_id)
        return
    delivery = sendonce.send(
        EmailDelivery.objects.all(),
        welcome.pk,
        # Straight to the mailer that sends: the delivery row is the owed record already.
        partial(_send_welcome, user=welcome.user),
        what="Welcome email",
    )
    if delivery is not None:
        logger.info("Welcome email sent to user %s (delivery %s)", user_id, welcome.pk)


def _send_welcome(delivery: EmailDelivery, *, user: User) -> None:
    delivery.user = user  # read with the row a moment before its claim: no second query
    welcome_email(delivery).send(using=sending_alias())


@dramatiq.actor(**sendonce.email_actor_options())
def decide_password_reset(email: str) -> None:
    """A reset asked for on /accounts/password-reset/ for this normalised address: a reset email to each
    active user of it with a usable password (Django's PasswordResetForm.get_users), nothing for an unknown
    address. Decided here, not in the request, so that the request does the same work whatever the address.
    Running twice sends nothing more (one email per user per PASSWORD_RESET_EMAIL_INTERVAL_S)."""
    for user in PasswordResetForm().get_users(email):
        send_password_reset(user.pk)


def send_password_reset(user_id: int) -> bool:
    """A password reset email for this user through the outbox backend; False when one went recently."""
    with transaction.atomic():
        user = User.objects.get(pk=user_id)
        return send_throttled(user, PASSWORD_RESET, "password_reset_email_at", settings.PASSWORD_RESET_EMAIL_INTERVAL_S)


def enqueue_owed(older_than: timedelta) -> int:
    """Re-enqueue every owed welcome email older than `older_than`; returns how many (dramaturg.sendonce.enqueue_owed).
    Raises the broker's error if Redis is unreachable."""
    return sendonce.enqueue_owed(EmailDelivery.objects.all(), older_than)


@dramatiq.actor(
    queue_name=EMAILS, max_retries=0, time_limit=10 * 60_000, periodic=cron(conf.settings.SEND_ONCE.RECONCILE_CRON)
)
def reconcile_deliveries() -> None:
    """The scheduler's run of `manage.py reconcile_deliveries`."""
    try:
        count = enqueue_owed(timedelta(seconds=conf.settings.SEND_ONCE.RECONCILE_AFTER_S))
    except (redis.RedisError, BrokerConnectionError) as error:
        logger.warning("Delivery reconciliation could not reach Redis; the next scheduled run retries: %s", error)
        return
    except (OperationalError, InterfaceError) as error:
        # Not a dead letter each run while the database is away (max_retries=0): the next run covers it.
        logger.warning("Delivery reconciliation could not reach the database; the next run retries: %s", error)
        return
    logger.info("Delivery reconciliation re-enqueued %d owed email(s)", count)
