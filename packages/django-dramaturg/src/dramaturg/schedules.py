"""The periodiq schedules of the project's actors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dramatiq
import pendulum
from django.conf import settings


@dataclass(frozen=True)
class Schedule:
    actor_name: str
    queue_name: str
    cron: str
    next_run: datetime
    last_run_ms: int | None
    last_outcome: str | None


def periodic_actors() -> list[dramatiq.Actor]:
    """Actors with a periodiq schedule (every app's tasks module is imported by DramaturgConfig.ready())."""
    broker = dramatiq.get_broker()
    return sorted((a for a in broker.actors.values() if "periodic" in a.options), key=lambda a: a.actor_name)


def next_run(actor: dramatiq.Actor, after: datetime | None = None) -> datetime:
    """The next time periodiq will send `actor`, in the project's time zone."""
    zone = pendulum.timezone(settings.TIME_ZONE)
    start = pendulum.instance(after).in_timezone(zone) if after else pendulum.now(zone)
    return actor.options["periodic"].next_valid_date(start)


def schedules(last_runs: dict[str, dict[str, Any]]) -> list[Schedule]:
    return [
        Schedule(
            actor.actor_name,
            actor.queue_name,
            str(actor.options["periodic"]),
            next_run(actor),
            last_runs.get(actor.actor_name, {}).get("last_run_ms"),
            last_runs.get(actor.actor_name, {}).get("outcome"),
        )
        for actor in periodic_actors()
    ]
