"""The job platform's own actors: upkeep on the worker side (dashboard pages never write to Redis)
and big bulk actions, started here and carried out by `jobs.bulk`."""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings
from django.db import transaction
from periodiq import cron

from . import actions, bulk
from .models import BulkAction
from .outbox import enqueue_on_commit
from .store import dead_letters, stats

logger = logging.getLogger(__name__)


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=10 * 60_000, periodic=cron("17 * * * *"))
def prune_job_store() -> None:
    """Hourly: drop index entries of dead letters the broker expired, forget workers gone for an hour."""
    pruned = dead_letters.prune_expired(settings.DRAMATIQ_DEAD_MESSAGE_TTL_MS)
    forgotten = stats.forget_silent_workers()
    if pruned or forgotten:
        logger.info("Pruned %d expired dead-letter index entries; forgot %d silent workers", pruned, forgotten)


@dramatiq.actor(queue_name="default", max_retries=5, time_limit=60 * 60_000)
def run_bulk_action(bulk_id: int) -> None:
    """A big bulk action on dead letters or waiting retries, with its progress in the database (jobs.bulk)."""
    bulk.run(bulk_id)


def start_bulk_action(user, action: str, filters: dict[str, str], total: int) -> BulkAction:
    """Record a bulk action on everything matching `filters` and send its job."""
    if action not in actions.DEAD_ACTIONS + actions.RETRY_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    with transaction.atomic():
        job = BulkAction.objects.create(
            user=user, user_email=getattr(user, "email", ""), action=action, filters=filters, total=total
        )
        enqueue_on_commit(run_bulk_action, job.pk)
    return job
