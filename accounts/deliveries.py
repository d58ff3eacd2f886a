"""Claiming and settling EmailDelivery rows: what makes the email actors idempotent."""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import EmailDelivery, User


class AlreadyClaimed(Exception):
    """Another worker holds the lease on this delivery right now."""

    def __init__(self, retry_in_ms: int) -> None:
        super().__init__(f"delivery is being sent by another worker; retry in {retry_in_ms} ms")
        self.retry_in_ms = retry_in_ms


def welcome_delivery_id(user_id: int) -> int:
    """The user's welcome delivery row (created with the user; made here for rows that predate it).

    Raises User.DoesNotExist when the user is gone.
    """
    with transaction.atomic():
        user = User.objects.get(pk=user_id)
        delivery, _ = EmailDelivery.objects.get_or_create(user=user, kind=EmailDelivery.Kind.WELCOME)
    return delivery.pk


def claim(delivery_id: int, lease: timedelta, wait: timedelta = timedelta(0)) -> EmailDelivery | None:
    """Take the right to send this delivery, or return None if it was already sent.

    Raises EmailDelivery.DoesNotExist when the row is gone (its user was deleted),
    and AlreadyClaimed when another worker still holds the lease after `wait`: a
    duplicate that arrives while the first copy is sending usually learns within a
    second that it has nothing to do.
    """
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        try:
            return _claim_once(delivery_id, lease)
        except AlreadyClaimed:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _claim_once(delivery_id: int, lease: timedelta) -> EmailDelivery | None:
    # The conditional UPDATE is the atomic claim: of two racing workers exactly
    # one sees a row count of 1.
    now = timezone.now()
    claimed = (
        EmailDelivery.objects.filter(pk=delivery_id, sent_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(status=EmailDelivery.Status.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1)
    )
    delivery = EmailDelivery.objects.select_related("user").get(pk=delivery_id)
    if claimed:
        return delivery
    if delivery.sent_at is not None:
        return None
    remaining = (delivery.claimed_until - now) if delivery.claimed_until else timedelta(0)
    raise AlreadyClaimed(max(int(remaining.total_seconds() * 1000), 1000))


def mark_sent(delivery: EmailDelivery) -> None:
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
    )


def mark_failed(delivery: EmailDelivery, error: BaseException, *, final: bool) -> None:
    """Release the lease so a retry can claim it; `final` when no retry will come."""
    EmailDelivery.objects.filter(pk=delivery.pk, sent_at__isnull=True).update(
        status=EmailDelivery.Status.FAILED if final else EmailDelivery.Status.PENDING,
        claimed_until=None,
        last_error=f"{type(error).__name__}: {error}"[:2000],
    )
