"""JobStats as it was before per-actor metrics (main at 823f97c), for bench/operator_view.py --drain only."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from jobs.store import stats
from jobs.timeutil import now_ms

logger = logging.getLogger(__name__)


def _worker_id(broker: Broker) -> str:
    return getattr(broker, "broker_id", f"{socket.gethostname()}:{os.getpid()}")


class JobStats(Middleware):
    """Workers, what they run, throughput and periodic runs, for the dashboard.

    Kept in memory per worker process and published by a background thread
    once a second in one pipeline, so a job costs no Redis round trip of its
    own. The same publish re-registers the worker, so its entry comes back
    after a Redis restart. A failed publish keeps the counts for the next one.
    """

    FLUSH_EVERY_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker_id: str | None = None
        self._info: dict = {}
        self._running: dict[str, dict] = {}
        self._running_changed = False
        self._counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # minute -> [processed, failed]
        self._periodic: dict[str, dict] = {}

    def after_worker_boot(self, broker: Broker, worker) -> None:
        self._worker_id = _worker_id(broker)
        self._info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "started_ms": now_ms(),
        }
        self.flush()
        threading.Thread(target=self._publish_every_second, daemon=True, name="JobStats").start()

    def _publish_every_second(self) -> None:
        while not self._stop.wait(self.FLUSH_EVERY_S):
            self.flush()

    def before_worker_shutdown(self, broker: Broker, worker) -> None:
        self._stop.set()
        self.flush()
        try:
            stats.unregister_worker(self._worker_id)
        except Exception as error:
            logger.warning("Worker not unregistered: %s", error)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        with self._lock:
            self._running[message.message_id] = {
                "message_id": message.message_id,
                "actor": message.actor_name,
                "queue": message.queue_name,
                "started_ms": now_ms(),
            }
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
        now = time.time()
        with self._lock:
            self._running.pop(message.message_id, None)
            self._running_changed = True
            self._counts[int(now // 60)][int(failed)] += 1
            if periodic:
                self._periodic[message.actor_name] = {
                    "last_run_ms": int(now * 1000),
                    "outcome": "failed" if failed else "processed",
                }

    def flush(self) -> None:
        if self._worker_id is None:
            return
        with self._lock:
            running = dict(self._running) if self._running_changed else None
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
            periodic, self._periodic = self._periodic, {}
            self._running_changed = False
        try:
            stats.publish_worker_stats(
                self._worker_id, self._info, running, {m: tuple(c) for m, c in counts.items()}, periodic
            )
        except Exception as error:
            logger.warning("Job statistics not published (kept for the next try): %s", error)
            with self._lock:
                for minute, (processed, failed) in counts.items():
                    self._counts[minute][0] += processed
                    self._counts[minute][1] += failed
                self._periodic = {**periodic, **self._periodic}
                self._running_changed = self._running_changed or running is not None
