"""The cluster's state in one read, for the overview, Prometheus and the health checks.

Everything comes from what Redis holds (every worker's published figures) and from the
outbox table, so any web process answers for the whole cluster. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone

from dramaturg import conf

from .models import OutboxMessage
from .store import actor_metrics, control, queues, stats
from .store.actor_metrics import ActorCounts
from .store.queues import QueueCounts
from .timeutil import now_ms


@dataclass(frozen=True)
class QueueState:
    counts: QueueCounts
    oldest_ready_ms: int | None  # when its longest-waiting ready message became ready
    paused: bool
    workers_alive: int
    workers_lost: int
    now_ms: int

    @property
    def name(self) -> str:
        return self.counts.name

    @property
    def oldest_ready_age_s(self) -> float:
        """Seconds the longest-waiting ready message has waited (0 with none)."""
        return max(self.now_ms - self.oldest_ready_ms, 0) / 1000 if self.oldest_ready_ms else 0.0


@dataclass(frozen=True)
class OutboxBacklog:
    queue: str
    pending: int
    oldest: datetime | None

    def age_s(self, now: datetime) -> float:
        return max((now - self.oldest).total_seconds(), 0.0) if self.oldest else 0.0


@dataclass(frozen=True)
class Snapshot:
    queues: list[QueueState]
    workers: list[stats.WorkerInfo]
    actors: dict[str, ActorCounts] = field(default_factory=dict)  # since the start
    outbox: list[OutboxBacklog] = field(default_factory=list)
    taken_at: datetime = field(default_factory=timezone.now)


def outbox_backlog() -> list[OutboxBacklog]:
    """Pending outbox rows per queue and the oldest one's time (one grouped query on the pending index)."""
    rows = (
        OutboxMessage.objects.filter(dispatched_at__isnull=True)
        .values("queue_name")
        .annotate(pending=Count("id"), oldest=Min("created_at"))
        .order_by("queue_name")
    )
    return [OutboxBacklog(r["queue_name"], r["pending"], r["oldest"]) for r in rows]


def queue_states(workers: list[stats.WorkerInfo], names: list[str] | None = None) -> list[QueueState]:
    """Counts, oldest-ready time, paused flag and live/lost workers of every known queue."""
    figures = queues.queue_figures(names)
    paused = control.paused_queues()
    now = now_ms()
    alive: dict[str, int] = {}
    lost: dict[str, int] = {}
    for worker in workers:
        for queue in worker.queues:
            tally = alive if worker.alive else lost
            tally[queue] = tally.get(queue, 0) + 1
    return [
        QueueState(c, oldest, c.name in paused, alive.get(c.name, 0), lost.get(c.name, 0), now) for c, oldest in figures
    ]


def snapshot(*, actors: bool = True, outbox: bool = True) -> Snapshot:
    """The cluster's state: queues, workers, per-actor totals and the outbox backlog."""
    workers = stats.workers(conf.heartbeat_timeout_ms())
    return Snapshot(
        queues=queue_states(workers),
        workers=workers,
        actors=actor_metrics.all_time() if actors else {},
        outbox=outbox_backlog() if outbox else [],
    )
