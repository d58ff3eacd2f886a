"""Dead workers' messages back in their queues on a timer, not by chance."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq.broker import Broker
from dramatiq.middleware import Middleware

from dramaturg import conf

logger = logging.getLogger(__name__)


class QueueMaintenance(Middleware):
    """Run the Redis broker's maintenance for every queue this worker consumes,
    every ``DRAMATIQ_MAINTENANCE_INTERVAL_MS``.

    The broker puts a dead worker's unacked messages back in their queue only
    during maintenance, which Dramatiq runs on a random 0.1 % of broker calls:
    after a worker was killed its jobs came back 20 s to 4 min later. On a timer,
    they are back within the heartbeat timeout plus one interval. The timer runs
    in each worker process (a thread started at boot, stopped at shutdown); a
    failed round (Redis away) is logged and the next one tries again.

    After an outage every worker's last heartbeat is old, and live workers need a
    few seconds to reconnect; judging them at once would hand their running jobs
    to others (harmless for idempotent actors, but work done twice). So once Redis
    answers again, maintenance resumes only after one heartbeat timeout.
    """

    def __init__(self, interval_ms: int | None = None) -> None:
        self.interval_s = (
            interval_ms if interval_ms is not None else conf.settings.WORKER.MAINTENANCE_INTERVAL_MS
        ) / 1000
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._resume_at: float | None = None  # after an outage: when to judge other workers again

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        if not hasattr(broker, "run_maintenance"):
            logger.warning("%s has no run_maintenance(); queue maintenance is left to chance", type(broker).__name__)
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(broker, worker), daemon=True, name="QueueMaintenance")
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self, broker: Any, worker: Any) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once(broker, sorted(worker.consumers))

    def run_once(self, broker: Any, queues: list[str]) -> None:
        """One round over `queues` (as consumed: delay queues too)."""
        try:
            if self._failing:
                broker.client.ping()
                self._resume_at = time.monotonic() + broker.heartbeat_timeout / 1000
                self._failing = False
                logger.info(
                    "Redis answers again; queue maintenance resumes in %.1f s, when live workers "
                    "have sent their heartbeats",
                    broker.heartbeat_timeout / 1000,
                )
            if self._resume_at is not None:
                if time.monotonic() < self._resume_at:
                    return
                self._resume_at = None
            for queue in queues:
                broker.run_maintenance(queue)
        except Exception as error:
            if not self._failing:
                logger.warning("Queue maintenance failed (retrying every %.1f s): %s", self.interval_s, error)
            self._failing = True
