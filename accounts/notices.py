"""Emails a user asks for, or is owed by someone else's action, at most one per user per interval.

"You already have an account" (a signup with a registered address) and password reset links can be
requested by anyone who knows an address: the per-user interval keeps that from mail-bombing its owner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from .models import EmailDelivery, User


def owe_throttled(
    user: User, kind: EmailDelivery.Kind, interval_s: int, enqueue: Callable[[int], object]
) -> EmailDelivery | None:
    """Record an owed email and, through `enqueue(delivery_id)`, its job in the outbox, unless one of
    this kind was recorded for the user within `interval_s`. Returns the new delivery, or None when throttled.

    Call inside a transaction that holds the user's row (select_for_update), so that two requests
    for one user are decided one at a time (PostgreSQL; SQLite serialises writers anyway).
    """
    since = timezone.now() - timedelta(seconds=interval_s)
    if EmailDelivery.objects.filter(user=user, kind=kind, created_at__gt=since).exists():
        return None
    delivery = EmailDelivery.objects.create(user=user, kind=kind)
    enqueue(delivery.pk)  # inside the caller's transaction: an outbox row
    return delivery
