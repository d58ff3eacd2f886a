"""Actors of the accounts app. They take ids, never objects, and are safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import dramatiq
import redis
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db import InterfaceError, OperationalError, transaction
from django.tasks import task
from dramatiq import Message
from dramatiq.errors import BrokerConnectionError
from periodiq import cron

from dramaturg import conf, outbox, sendonce
from dramaturg.tasks_backend import task_message

from . import deliveries
from .emails import build_email
from .models import EmailDelivery, User
from .notices import owe_throttled

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

EMAILS = settings.DRAMATIQ_QUEUE_EMAILS


def _deliver(delivery: EmailDelivery, user: User | None = None) -> None:
    if user is not None:  # read with the row a moment ago (the welcome email's): no second query
        delivery.user = user
    build_email(delivery).send()


def _send(delivery_id: int, user: User | None = None) -> None:
    """Claim, send and settle one delivery; a sent one is never sent again."""
    delivery = sendonce.send(
        EmailDelivery.objects.select_related("user"), delivery_id, partial(_deliver, user=user), what="Email delivery"
    )
    if delivery is not None and logger.isEnabledFor(logging.INFO):  # its arguments cost a lookup each
        logger.info(
            "%s email sent to user %s (delivery %s)", delivery.get_kind_display(), delivery.user_id, delivery_id
        )


@dramatiq.actor(**sendonce.email_actor_options())
def send_welcome_email(user_id: int) -> None:
    try:
        welcome = deliveries.welcome_delivery(user_id)
    except User.DoesNotExist:
        logger.info("User %s no longer exists; no welcome email to send", user_id)
        return
    _send(welcome.pk, welcome.user)


# A django.tasks task (dramaturg.tasks_backend): a Dramatiq actor named accounts.tasks.send_existing_account_email.
@task(**sendonce.email_actor_options())
def send_existing_account_email(delivery_id: int) -> None:
    """'You already have an account', sent instead of a welcome email when a signup names a registered address."""
    _send(delivery_id)


@dramatiq.actor(**sendonce.email_actor_options())
def send_password_reset_email(delivery_id: int) -> None:
    """A password reset link, asked for on /accounts/password-reset/ (the link is made when the email is built)."""
    _send(delivery_id)


@dramatiq.actor(**sendonce.email_actor_options())
def decide_password_reset(email: str) -> None:
    """A reset asked for on /accounts/password-reset/ for this normalised address: a reset email owed to each
    active user of it with a usable password (Django's PasswordResetForm.get_users), nothing for an unknown
    address. Decided here, not in the request, so that the request does the same work whatever the address.
    Running twice owes nothing more (one email per user per PASSWORD_RESET_EMAIL_INTERVAL_S)."""
    for user in PasswordResetForm().get_users(email):
        owe_password_reset(user.pk)


def owe_password_reset(user_id: int) -> EmailDelivery | None:
    """A password reset email for this user through the outbox (None when one was owed recently)."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        return owe_throttled(
            user,
            EmailDelivery.Kind.PASSWORD_RESET,
            settings.PASSWORD_RESET_EMAIL_INTERVAL_S,
            partial(outbox.enqueue_on_commit, send_password_reset_email),
        )


def message_for(delivery: EmailDelivery) -> Message:
    """The job that sends an owed delivery."""
    if delivery.kind == EmailDelivery.Kind.WELCOME:
        return send_welcome_email.message(delivery.user_id)
    if delivery.kind == EmailDelivery.Kind.PASSWORD_RESET:
        return send_password_reset_email.message(delivery.pk)
    return task_message(send_existing_account_email, delivery.pk)


def enqueue_owed(older_than: timedelta) -> int:
    """Re-enqueue every owed delivery older than `older_than`; returns how many (dramaturg.sendonce.enqueue_owed).
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
