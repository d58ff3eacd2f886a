"""The transactional outbox: jobs recorded with the change that causes them, dispatched after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, cast

import dramatiq
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from dramatiq import Message
from dramatiq.common import dq_name

from .models import OutboxMessage

if TYPE_CHECKING:
    from .broker import RedisBroker

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=5)


def enqueue_on_commit(actor: dramatiq.Actor, *args, **kwargs) -> OutboxMessage:
    """Record `actor(*args, **kwargs)` in the current transaction and dispatch it once it commits.

    A rolled-back transaction leaves nothing; a committed one always leaves a row
    that is dispatched now or by the relay later.
    """
    row = OutboxMessage.objects.create(
        actor_name=actor.actor_name, queue_name=actor.queue_name, args=list(args), kwargs=kwargs
    )
    transaction.on_commit(partial(dispatch_now, row), robust=True)
    return row


def enqueue_message_on_commit(message: Message) -> OutboxMessage:
    """Record a message already built (its id, queue and options kept) in the current transaction
    and dispatch it once it commits. An `eta` option (epoch ms) makes it a delayed message.

    Same guarantees as `enqueue_on_commit`: nothing if the transaction rolls back; the relay
    sends it if this process dies or Redis is down at commit."""
    row = OutboxMessage.objects.create(
        message_id=message.message_id,
        actor_name=message.actor_name,
        queue_name=message.queue_name,
        args=list(message.args),
        kwargs=message.kwargs,
        options=dict(message.options),
    )
    transaction.on_commit(partial(dispatch_now, row), robust=True)
    return row


def _message(row: OutboxMessage) -> Message:
    options = dict(row.options or {})
    # A delayed message waits in the queue's delay queue; one whose eta has passed by the time
    # it is dispatched goes on to its queue at once (the worker moves it).
    queue_name = dq_name(row.queue_name) if options.get("eta") is not None else row.queue_name
    return Message(
        queue_name=queue_name,
        actor_name=row.actor_name,
        args=tuple(row.args),
        kwargs=row.kwargs,
        options=options,
        message_id=str(row.message_id),
        message_timestamp=int(row.created_at.timestamp() * 1000),
    )


def dispatch(rows: Iterable[OutboxMessage]) -> int:
    """Enqueue rows in one pipelined round trip and mark them dispatched. On a broker
    error none is marked (a row may have reached Redis anyway: its fixed message id
    makes the resend harmless) and each gets its next attempt time (exponential backoff)."""
    rows = list(rows)
    if not rows:
        return 0
    try:
        cast("RedisBroker", dramatiq.get_broker()).enqueue_many(_message(row) for row in rows)
    except Exception as error:
        # The rows of a batch share their fate (the broker is unreachable): one backoff for all.
        attempts = min(row.attempts for row in rows) + 1
        OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
            attempts=F("attempts") + 1,
            last_error=f"{error}"[:2000],
            next_attempt_at=timezone.now() + min(timedelta(seconds=2 ** min(attempts, 10)), MAX_BACKOFF),
        )
        raise
    OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(dispatched_at=timezone.now())
    return len(rows)


def dispatch_now(row: OutboxMessage) -> None:
    """The after-commit dispatch: on failure the row stays pending for the relay, and the caller carries on."""
    try:
        dispatch([row])
    except Exception as error:
        logger.warning("Outbox message %s kept for the relay: %s", row.pk, error)


def relay_once(batch: int = 500, grace: timedelta = timedelta(seconds=5)) -> int:
    """Dispatch due rows, oldest first. `grace` leaves fresh rows to their own after-commit dispatch."""
    now = timezone.now()
    due = (
        OutboxMessage.objects.filter(dispatched_at__isnull=True, created_at__lte=now - grace)
        .exclude(next_attempt_at__gt=now)
        .order_by("id")[:batch]
    )
    return dispatch(list(due))


def prune(older_than: timedelta = timedelta(days=7)) -> int:
    """Forget dispatched rows after a while; the table only needs what may still be in flight."""
    deleted, _ = OutboxMessage.objects.filter(dispatched_at__lt=timezone.now() - older_than).delete()
    return deleted
