"""The job platform's own upkeep, on the worker side (dashboard pages never write to Redis)."""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings
from periodiq import cron

from . import bulk
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
