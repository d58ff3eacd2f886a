"""Workers, what they run, throughput and per-actor metrics: the bookkeeping the dashboard reads."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict

from django.conf import settings
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from jobs.store import actor_metrics, recent, stats
from jobs.store.actor_metrics import ActorCounts
from jobs.timeutil import now_ms
from jobs.versions import code_version

logger = logging.getLogger(__name__)


def _worker_id(broker: Broker) -> str:
    return getattr(broker, "broker_id", f"{socket.gethostname()}:{os.getpid()}")


class JobStats(Middleware):
    """Workers, what they run, throughput, periodic runs, per-actor counts and runtime
    histograms, and a record of recently finished messages, for the dashboard.

    Kept in memory per worker process and published by a background thread
    once a second in one pipeline, so a job costs no Redis round trip of its
    own. The same publish re-registers the worker, so its entry comes back
    after a Redis restart. A failed publish keeps the counts for the next one.

    An attempt is counted when it ends (processed or failed, with its runtime);
    whether a failed one is retried or dead is known when the consumer acks
    (a retry was enqueued) or nacks it (dead-lettered).
    """

    FLUSH_EVERY_S = 1.0
    MAX_PENDING = 50_000  # attempts awaiting their ack/nack, and finished records awaiting a publish

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker_id: str | None = None
        self._info: dict = {}
        self._running: dict[str, dict] = {}
        self._running_changed = False
        self._counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # minute -> [processed, failed]
        self._periodic: dict[str, dict] = {}
        self._actors: dict[int, dict[str, ActorCounts]] = defaultdict(lambda: defaultdict(ActorCounts))
        self._starts: dict[str, float] = {}  # message id -> monotonic start
        self._ended: dict[str, tuple[float, bool, int]] = {}  # message id -> (duration ms, failed, started ms)
        self._finished_records: list[tuple] = []  # recent.FIELDS, less the worker's

    @property
    def _record_limit(self) -> int:
        """How many finished messages to keep for the next publish (0: JOBS_RECENT_LIMIT=0, no record)."""
        return min(self.MAX_PENDING, settings.JOBS_RECENT_LIMIT)

    def after_worker_boot(self, broker: Broker, worker) -> None:
        self._worker_id = _worker_id(broker)
        started = now_ms()
        self._info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "started_ms": started,
            "version": code_version(),
        }
        try:
            actor_metrics.record_version(self._info["version"], started)
        except Exception as error:
            logger.warning("Code version not recorded: %s", error)
        self.flush()
        threading.Thread(target=self._publish_every_second, daemon=True, name="JobStats").start()

    def _publish_every_second(self) -> None:
        while not self._stop.wait(self.FLUSH_EVERY_S):
            self.flush()

    def before_worker_shutdown(self, broker: Broker, worker) -> None:
        self._stop.set()
        self.flush()
        if self._worker_id is None:
            return
        try:
            stats.unregister_worker(self._worker_id)
        except Exception as error:
            logger.warning("Worker not unregistered: %s", error)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        m = message._message  # the message itself: each attribute through the proxy costs a __getattr__
        with self._lock:
            self._running[m.message_id] = {
                "message_id": m.message_id,
                "actor": m.actor_name,
                "queue": m.queue_name,
                "started_ms": now_ms(),
            }
            self._starts[m.message_id] = time.monotonic()
            self._running_changed = True

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result=None, exception: BaseException | None = None
    ) -> None:
        actor = broker.actors.get(message.actor_name)
        periodic = actor is not None and "periodic" in actor.options
        self._finished(message, failed=exception is not None, periodic=periodic)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._finished(message, failed=message.failed, periodic=False)

    def _finished(self, message: MessageProxy, *, failed: bool, periodic: bool) -> None:
        m = message._message
        now = time.time()
        ended = time.monotonic()
        with self._lock:
            running = self._running.pop(m.message_id, None)
            start = self._starts.pop(m.message_id, ended)
            duration_ms = (ended - start) * 1000
            self._running_changed = True
            minute = int(now // 60)
            self._counts[minute][int(failed)] += 1
            self._actors[minute][m.actor_name].observe(duration_ms, failed)
            if len(self._ended) >= self.MAX_PENDING:
                self._ended.clear()  # acks that never came (cannot happen in Dramatiq's flow): bounded anyway
            self._ended[m.message_id] = (duration_ms, failed, running["started_ms"] if running else int(now * 1000))
            if periodic:
                self._periodic[m.actor_name] = {
                    "last_run_ms": int(now * 1000),
                    "outcome": "failed" if failed else "processed",
                }

    def after_ack(self, broker: Broker, message: MessageProxy) -> None:
        if message._message.queue_name.endswith(".DQ"):
            return  # a delayed message moved to its queue, not an attempt
        self._settled(message, dead=False)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        self._settled(message, dead=True)

    def _settled(self, message: MessageProxy, *, dead: bool) -> None:
        """An attempt's last step: acked (done, or failed with a retry enqueued) or nacked (dead)."""
        m = message._message
        now = now_ms()
        with self._lock:
            duration_ms, failed, started_ms = self._ended.pop(m.message_id, (0.0, dead, now))
            if dead:
                self._actors[now // 60_000][m.actor_name].dead += 1
                outcome = recent.DEAD
            elif failed:
                self._actors[now // 60_000][m.actor_name].retried += 1
                outcome = recent.RETRIED
            else:
                outcome = recent.DONE
            if len(self._finished_records) < self._record_limit:
                self._finished_records.append(
                    (
                        m.message_id,
                        m.actor_name,
                        m.queue_name,
                        outcome,
                        m.options.get("retries", 0),
                        started_ms,
                        now,
                        round(duration_ms, 1),
                    )
                )

    def flush(self) -> None:
        if self._worker_id is None:
            return
        with self._lock:
            running = dict(self._running) if self._running_changed else None
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
            periodic, self._periodic = self._periodic, {}
            actors, self._actors = self._actors, defaultdict(lambda: defaultdict(ActorCounts))
            finished, self._finished_records = self._finished_records, []
            self._running_changed = False
        try:
            stats.publish_worker_stats(
                self._worker_id,
                self._info,
                running,
                {m: (c[0], c[1]) for m, c in counts.items()},
                periodic,
                actors=actors,
                finished=finished,
                recent_limit=settings.JOBS_RECENT_LIMIT,
                recent_max_age_ms=settings.JOBS_RECENT_MAX_AGE_S * 1000,
            )
        except Exception as error:
            logger.warning("Job statistics not published (kept for the next try): %s", error)
            with self._lock:
                for minute, (processed, failed) in counts.items():
                    self._counts[minute][0] += processed
                    self._counts[minute][1] += failed
                for minute, by_actor in actors.items():
                    for actor, actor_counts in by_actor.items():
                        self._actors[minute][actor].add(actor_counts)
                self._finished_records = (finished + self._finished_records)[-self.MAX_PENDING :]
                self._periodic = {**periodic, **self._periodic}
                self._running_changed = self._running_changed or running is not None
