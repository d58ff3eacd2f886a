"""Actors of the accounts app. They take ids, never objects, and are safe to run twice."""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache

import dramatiq
from django.conf import settings
from dramatiq.middleware import CurrentMessage
from dramatiq.rate_limits import RateLimitExceeded

from jobs import limits

from . import deliveries
from .emails import build_welcome_email
from .models import EmailDelivery, User

logger = logging.getLogger(__name__)

EMAILS = settings.DRAMATIQ_QUEUE_EMAILS
# The lease outlives the actor's time limit, so a live sender never loses it.
CLAIM_LEASE = timedelta(milliseconds=settings.WELCOME_EMAIL_TIME_LIMIT_MS + settings.WELCOME_EMAIL_LEASE_MARGIN_MS)
# How long a duplicate waits for the copy that holds the lease (one SMTP exchange).
CLAIM_WAIT = timedelta(seconds=settings.EMAIL_TIMEOUT + 5)


@cache
def _smtp_limiter():
    return limits.window_limiter("smtp", settings.EMAIL_RATE_PER_SECOND, window_s=1)


def _is_last_attempt() -> bool:
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    max_retries = message.options.get("max_retries", send_welcome_email.options["max_retries"])
    return message.options.get("retries", 0) >= max_retries


@dramatiq.actor(
    queue_name=EMAILS,
    max_retries=settings.WELCOME_EMAIL_MAX_RETRIES,
    time_limit=settings.WELCOME_EMAIL_TIME_LIMIT_MS,
)
def send_welcome_email(user_id: int) -> None:
    try:
        delivery = deliveries.claim(user_id, EmailDelivery.Kind.WELCOME, CLAIM_LEASE, CLAIM_WAIT)
    except User.DoesNotExist:
        logger.info("User %s no longer exists; no welcome email to send", user_id)
        return
    except deliveries.AlreadyClaimed as busy:
        raise dramatiq.Retry(str(busy), delay=busy.retry_in_ms) from None
    if delivery is None:
        logger.info("Welcome email for user %s was already sent; nothing to do", user_id)
        return
    try:
        if not limits.acquire_within(_smtp_limiter(), timeout_s=10):
            raise RateLimitExceeded("the SMTP send rate stayed at its limit for 10 s")
        build_welcome_email(delivery.user, delivery).send()
    except Exception as error:
        deliveries.mark_failed(delivery, error, final=_is_last_attempt())
        raise
    deliveries.mark_sent(delivery)
    logger.info("Welcome email sent to user %s", user_id)
