"""Rows owed one email, sent at most once: what makes the email actors idempotent.

A row (accounts' `EmailDelivery`, jobs' `HealthAlert` and `AdminErrorMail`) records what is owed; its fields `status`
(pending / sending / sent / failed), `attempts`, `claimed_until`, `sent_at`, `last_error`,
`created_at` and `reconciled_at` are read and written here. A worker claims a row by a conditional
UPDATE with a lease before it sends, so of two copies of a job exactly one sends; the database is
the record of what is owed, so rows whose job Redis lost are found again (`owed_batches`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import dramatiq
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone
from dramatiq import Message
from dramatiq.rate_limits import RateLimitExceeded

from . import limits
from .attempts import is_last_attempt

if TYPE_CHECKING:
    from .broker import RedisBroker

logger = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class AlreadyClaimed(Exception):
    """Another worker holds the lease on this row right now."""

    def __init__(self, retry_in_ms: int) -> None:
        super().__init__(f"being sent by another worker; retry in {retry_in_ms} ms")
        self.retry_in_ms = retry_in_ms


def claim[Row: Model](rows: QuerySet[Row], pk: int, lease: timedelta, wait: timedelta = timedelta(0)) -> Row | None:
    """Take the right to send row `pk` of `rows`, or None if it was sent already.

    Raises DoesNotExist when the row is gone, and AlreadyClaimed when another worker still holds
    the lease after `wait`: a duplicate that arrives while the first copy sends usually learns
    within a second that it has nothing to do.
    """
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        # The conditional UPDATE is the claim: of two racing workers exactly one sees a row count of 1.
        now = timezone.now()
        claimed = (
            rows.model._default_manager.filter(pk=pk, sent_at__isnull=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .update(status=SENDING, claimed_until=now + lease, attempts=F("attempts") + 1)
        )
        row: Any = rows.get(pk=pk)
        if claimed:
            return row
        if row.sent_at is not None:
            return None
        if time.monotonic() >= deadline:
            remaining = (row.claimed_until - now) if row.claimed_until else timedelta(0)
            raise AlreadyClaimed(max(int(remaining.total_seconds() * 1000), 1000))
        time.sleep(0.2)


def mark_sent(row: Model) -> None:
    type(row)._default_manager.filter(pk=row.pk).update(
        status=SENT, sent_at=timezone.now(), claimed_until=None, last_error=""
    )


def mark_failed(row: Model, error: BaseException, *, final: bool) -> None:
    """Release the lease so a retry can claim it; `final` when no retry will come."""
    type(row)._default_manager.filter(pk=row.pk, sent_at__isnull=True).update(
        status=FAILED if final else PENDING,
        claimed_until=None,
        last_error=f"{type(error).__name__}: {error}"[:2000],
    )


def send[Row: Model](
    rows: QuerySet[Row], pk: int, deliver: Callable[[Row], object], *, lease: timedelta, wait: timedelta, what: str
) -> Row | None:
    """The body of an email actor: claim row `pk`, `deliver` it within the project's SMTP budget,
    settle it. Returns the row sent, or None when there was nothing to send (gone, or sent already).
    A failure marks the row (failed for good on the message's last attempt) and raises for a retry."""
    try:
        row = claim(rows, pk, lease, wait)
    except rows.model.DoesNotExist:  # type: ignore[attr-defined]
        logger.info("%s %s no longer exists; nothing to send", what, pk)
        return None
    except AlreadyClaimed as busy:
        raise dramatiq.Retry(str(busy), delay=busy.retry_in_ms) from None
    if row is None:
        logger.info("%s %s was already sent; nothing to do", what, pk)
        return None
    try:
        if not limits.acquire_within(limits.smtp_limiter(), timeout_s=10):
            raise RateLimitExceeded("the SMTP send rate stayed at its limit for 10 s")
        deliver(row)
    except Exception as error:
        mark_failed(row, error, final=is_last_attempt())
        raise
    mark_sent(row)
    return row


def owed[Row: Model](rows: QuerySet[Row], older_than: timedelta) -> QuerySet[Row]:
    """Rows not sent, not failed for good, with no live claim, created (and last re-enqueued, if
    ever) more than `older_than` ago: their job may be gone from Redis."""
    now = timezone.now()
    cutoff = now - older_than
    return (
        rows.filter(sent_at__isnull=True, created_at__lte=cutoff)
        .exclude(status=FAILED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .filter(Q(reconciled_at__isnull=True) | Q(reconciled_at__lte=cutoff))
    )


def owed_batches[Row: Model](rows: QuerySet[Row], older_than: timedelta, batch: int = 500) -> Iterator[list[Row]]:
    """Owed rows in id order, `batch` at a time (keyset paging: rows marked meanwhile are not skipped)."""
    last_id = 0
    while True:
        page = list(owed(rows, older_than).filter(pk__gt=last_id).order_by("pk")[:batch])
        if not page:
            return
        yield page
        last_id = page[-1].pk


def mark_reconciled[Row: Model](rows: list[Row]) -> None:
    """Note that these rows' jobs were enqueued again now (the next look skips them for a period)."""
    if rows:
        type(rows[0])._default_manager.filter(pk__in=[r.pk for r in rows]).update(reconciled_at=timezone.now())


def enqueue_owed[Row: Model](rows: QuerySet[Row], older_than: timedelta, message_for: Callable[[Row], Message]) -> int:
    """Re-enqueue every owed row older than `older_than` (its job may be lost); returns how many.

    A row whose job is still in Redis gets a second one: the actors are idempotent, so the extra
    job finds it sent (or claimed) and does nothing. Raises the broker's error if Redis is
    unreachable (batches enqueued so far stay marked).
    """
    broker = cast("RedisBroker", dramatiq.get_broker())
    total = 0
    for page in owed_batches(rows, older_than):
        broker.enqueue_many(message_for(row) for row in page)
        mark_reconciled(page)
        total += len(page)
    return total
