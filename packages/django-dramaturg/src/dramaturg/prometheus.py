"""/jobs/metrics in Prometheus' text format, cluster-wide, from what Redis holds.

Not per process (as Dramatiq's own Prometheus middleware): every web process answers with
the same figures, which every worker publishes to Redis once a second. A registry with one
collector is built per request from a `dramaturg.monitoring.Snapshot`; every series carries a
`queue` and/or `actor` label.
"""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .monitoring import Snapshot
from .store.actor_metrics import BUCKETS_MS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _actor_queues() -> dict[str, str]:
    return {name: actor.queue_name for name, actor in dramatiq.get_broker().actors.items()}


class SnapshotCollector(Collector):
    """Turns a snapshot into metric families (read once; collect() may be called again)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        depth = GaugeMetricFamily("jobs_queue_messages", "Messages in a queue by state", labels=["queue", "state"])
        oldest = GaugeMetricFamily(
            "jobs_queue_oldest_ready_age_seconds",
            "How long the longest-waiting ready message has waited (0: none)",
            labels=["queue"],
        )
        paused = GaugeMetricFamily("jobs_queue_paused", "1 while the queue is paused", labels=["queue"])
        dead = GaugeMetricFamily("jobs_dead_letters", "Dead letters kept for a queue", labels=["queue"])
        workers = GaugeMetricFamily(
            "jobs_workers", "Worker processes consuming a queue, alive or lost", labels=["queue", "state"]
        )
        for q in snap.queues:
            for state in ("ready", "delayed", "in_progress", "dead"):
                depth.add_metric([q.name, state], getattr(q.counts, state))
            oldest.add_metric([q.name], q.oldest_ready_age_s)
            paused.add_metric([q.name], int(q.paused))
            dead.add_metric([q.name], q.counts.dead)
            workers.add_metric([q.name, "alive"], q.workers_alive)
            workers.add_metric([q.name, "lost"], q.workers_lost)
        yield from (depth, oldest, paused, dead, workers)

        queue_of = _actor_queues()
        labels = ["actor", "queue"]
        families = {
            "processed": CounterMetricFamily("jobs_actor_processed", "Attempts that succeeded", labels=labels),
            "failed": CounterMetricFamily("jobs_actor_failed", "Attempts that raised", labels=labels),
            "retried": CounterMetricFamily("jobs_actor_retried", "Failed attempts followed by a retry", labels=labels),
            "dead": CounterMetricFamily("jobs_actor_dead", "Messages dead-lettered", labels=labels),
        }
        runtime = HistogramMetricFamily("jobs_actor_runtime_seconds", "Runtime of an attempt", labels=labels)
        bounds = [f"{ms / 1000:g}" for ms in BUCKETS_MS] + ["+Inf"]
        for actor, counts in sorted(snap.actors.items()):
            values = [actor, queue_of.get(actor, "")]
            for name, family in families.items():
                family.add_metric(values, getattr(counts, name))
            cumulative, running = [], 0
            for bound, n in zip(bounds, counts.buckets, strict=True):
                running += n
                cumulative.append((bound, running))
            runtime.add_metric(values, cumulative, counts.runtime_sum_ms / 1000)
        yield from families.values()
        yield runtime

        pending = GaugeMetricFamily("jobs_outbox_pending", "Outbox rows not yet dispatched", labels=["queue"])
        age = GaugeMetricFamily(
            "jobs_outbox_oldest_pending_age_seconds", "Age of the oldest undispatched outbox row", labels=["queue"]
        )
        backlogs = {b.queue: b for b in snap.outbox}
        for name in sorted(set(backlogs) | {q.name for q in snap.queues}):
            backlog = backlogs.get(name)
            pending.add_metric([name], backlog.pending if backlog else 0)
            age.add_metric([name], backlog.age_s(snap.taken_at) if backlog else 0)
        yield from (pending, age)


def render(snapshot: Snapshot) -> bytes:
    """The text exposition of a snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)
