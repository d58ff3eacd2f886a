"""The database is the source of truth for owed email: finding what Redis may have lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import EmailDelivery


def owed(older_than: timedelta) -> QuerySet[EmailDelivery]:
    """Deliveries not sent, not finally failed, with no live claim, created (and last
    reconciled, if ever) more than `older_than` ago: their job may be gone from Redis."""
    now = timezone.now()
    cutoff = now - older_than
    return (
        EmailDelivery.objects.filter(sent_at__isnull=True, created_at__lte=cutoff)
        .exclude(status=EmailDelivery.Status.FAILED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=cutoff))
    )


def owed_batches(older_than: timedelta, batch: int = 500) -> Iterator[list[EmailDelivery]]:
    """Owed deliveries in id order, `batch` at a time (keyset paging: rows marked meanwhile are not skipped)."""
    last_id = 0
    while True:
        rows = list(owed(older_than).filter(pk__gt=last_id).order_by("pk")[:batch])
        if not rows:
            return
        yield rows
        last_id = rows[-1].pk


def mark_reconciled(deliveries: list[EmailDelivery]) -> None:
    EmailDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(reconciled_at=timezone.now())
