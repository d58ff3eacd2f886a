"""periodiq's scheduler, made to survive a Redis outage at the minute a job is due."""

from __future__ import annotations

import logging
import time
from typing import Any

import dramatiq
import periodiq
import redis

logger = logging.getLogger(__name__)

# Retry a due send for most of the minute; the next tick is the next chance.
RETRY_FOR_S = 45.0
MAX_PAUSE_S = 5.0


class ResilientScheduler(periodiq.Scheduler):
    """periodiq's own sends once and dies on a broker error, losing the run and the process.
    Here a send that fails is retried with backoff for up to RETRY_FOR_S, logged each time;
    a run still unsent then is logged and left to the reconcilers (reports and deliveries
    are reconciled from the database)."""

    def send_actors(self, actors: list[Any], now: Any) -> None:
        for actor in actors:
            send_when_possible(actor, str(now))


def send_when_possible(
    actor: dramatiq.Actor, scheduled_at: str, *, retry_for_s: float = RETRY_FOR_S, sleep: Any = time.sleep
) -> bool:
    """Send `actor` for its `scheduled_at` run, retrying broker errors; True once sent."""
    deadline = time.monotonic() + retry_for_s
    pause = 0.5
    while True:
        try:
            logger.info("Scheduling %s at %s.", actor, scheduled_at)
            actor.send_with_options(scheduled_at=scheduled_at)
            return True
        except (redis.RedisError, dramatiq.errors.BrokerError) as error:
            if time.monotonic() + pause > deadline:
                logger.error(
                    "%s for %s not sent (%s); the next run or its reconciler covers it", actor, scheduled_at, error
                )
                return False
            logger.warning("%s for %s not sent yet (%s); retrying in %.1f s", actor, scheduled_at, error, pause)
            sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
