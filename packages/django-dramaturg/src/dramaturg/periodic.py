"""Periodic actors: their schedules and next runs, and periodiq's scheduler made to survive a
Redis outage at the minute a job is due.

Written against periodiq 0.14.0: `run` does what `periodiq.main` does after parsing its arguments,
and `ResilientScheduler` overrides `Scheduler.send_actors`, an undocumented hook;
tests/upstream/test_pins.py fails when `main`, `Scheduler.loop`, `schedule` or `send_actors` change.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
import pendulum
import periodiq
import redis
from django.conf import settings

from .store import control

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
        disabled = disabled_now()
        for actor in actors:
            if actor.actor_name in disabled:
                logger.info("%s not sent at %s: disabled by an operator.", actor, now)
                continue
            send_when_possible(actor, str(now))


def disabled_now() -> set[str]:
    """The actors an operator disabled (dramaturg.store.control), read at each tick, so that the choice
    holds across restarts of the scheduler; with Redis down, none (the send retries and logs anyway)."""
    try:
        return control.disabled_periodic()
    except redis.RedisError as error:
        logger.warning("Disabled periodic actors not read (%s); sending every due one", error)
        return set()


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


def run(broker: dramatiq.Broker, modules: Iterable[str] = ()) -> int:
    """Schedule `broker`'s periodic actors until killed (periodiq's loop, with `ResilientScheduler`);
    1 when there is none. Cron specs are read in the project's time zone."""
    pendulum.set_local_timezone(pendulum.timezone(settings.TIME_ZONE))
    for module in modules:
        importlib.import_module(module)
    actors = [a for a in broker.actors.values() if "periodic" in a.options]
    if not actors:
        logger.error("No periodic actor to schedule.")
        return 1
    periodiq.print_periodic_actors(actors)
    scheduler = ResilientScheduler(actors=actors)
    now = pendulum.now()
    if now.second > 55:  # started late in a minute: begin with the next one, as periodiq does
        time.sleep(60 - now.second)
    scheduler.schedule()
    scheduler.loop()
    return 0


@dataclass(frozen=True)
class Schedule:
    actor_name: str
    queue_name: str
    cron: str
    next_run: datetime
    last_run_ms: int | None
    last_outcome: str | None
    enabled: bool = True


def periodic_actors() -> list[dramatiq.Actor]:
    """Actors with a periodiq schedule (every app's tasks module is imported by DramaturgConfig.ready())."""
    broker = dramatiq.get_broker()
    return sorted((a for a in broker.actors.values() if "periodic" in a.options), key=lambda a: a.actor_name)


def next_run(actor: dramatiq.Actor, after: datetime | None = None) -> datetime:
    """The next time periodiq will send `actor`, in the project's time zone."""
    zone = pendulum.timezone(settings.TIME_ZONE)
    start = pendulum.instance(after).in_timezone(zone) if after else pendulum.now(zone)
    return actor.options["periodic"].next_valid_date(start)


def run_now(actor_name: str) -> str | None:
    """Send periodic actor `actor_name` now, as the scheduler would (an operator's "run now");
    its message id, or None if there is no such periodic actor."""
    actor = next((a for a in periodic_actors() if a.actor_name == actor_name), None)
    if actor is None:
        return None
    zone = pendulum.timezone(settings.TIME_ZONE)
    return str(actor.send_with_options(scheduled_at=str(pendulum.now(zone))).message_id)


def schedules(last_runs: dict[str, dict[str, Any]], disabled: Collection[str] = ()) -> list[Schedule]:
    """Each periodic actor's schedule, next and last run, and whether an operator disabled it."""
    return [
        Schedule(
            actor.actor_name,
            actor.queue_name,
            str(actor.options["periodic"]),
            next_run(actor),
            last_runs.get(actor.actor_name, {}).get("last_run_ms"),
            last_runs.get(actor.actor_name, {}).get("outcome"),
            actor.actor_name not in disabled,
        )
        for actor in periodic_actors()
    ]
