"""Dramatiq middleware configured from Django settings, and the bookkeeping the dashboard reads."""
from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import time
import traceback
from collections import defaultdict
from typing import Optional

from django.conf import settings
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, Retries, SkipMessage

from .store import dead_letters, stats
from .store.messages import NO_EXCEPTION

logger = logging.getLogger(__name__)


class ConfiguredRetries(Retries):
    """Retries with exponential backoff whose bounds come from settings.

    Actors still override them with ``max_retries`` / ``min_backoff`` / ``max_backoff``.
    """

    def __init__(self) -> None:
        super().__init__(
            max_retries=settings.DRAMATIQ_MAX_RETRIES,
            min_backoff=settings.DRAMATIQ_MIN_BACKOFF_MS,
            max_backoff=settings.DRAMATIQ_MAX_BACKOFF_MS,
        )


def _worker_id(broker: Broker) -> str:
    return getattr(broker, "broker_id", f"{socket.gethostname()}:{os.getpid()}")


class DeadLetterDetails(Middleware):
    """Keep why a message died next to it in the dead-letter set, and file it by group.

    The Redis broker moves the body that was *enqueued* into ``<queue>.XQ.msgs``,
    so the last failure's traceback (set in memory by Retries) would be lost, and
    a message that never reached Retries (unknown actor, ``throws``) would carry
    none. After the nack we store the in-memory message with its traceback, a
    one-line reason and the time it died, and count it under
    (queue, actor, exception type) for the dashboard.
    """

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        options = message.options
        exc = message._exception
        if isinstance(exc, SkipMessage) and options.get("dead_letter_reason"):
            pass  # rejected before it ran (ValidateArguments): the reason is already set
        elif exc is not None:
            options["traceback"] = "".join(traceback.format_exception(exc, limit=30))
            options["dead_letter_reason"] = f"{type(exc).__name__}: {exc}"[:500]
            options["exception_type"] = type(exc).__name__
        else:
            options.setdefault("dead_letter_reason", "Rejected by middleware (for example, too old)")
            options.setdefault("exception_type", NO_EXCEPTION)
        options["dead_lettered_at"] = int(time.time() * 1000)
        try:
            dead_letters.record_dead_letter(
                message.queue_name, options["redis_message_id"], message._message.encode(),
                message.actor_name, options["exception_type"],
            )
        except Exception:  # The message is already safe in the DLQ; only the details are lost.
            logger.exception("Could not record dead-letter details of %s", message.message_id)


class ValidateArguments(Middleware):
    """Dead-letter at once a message whose arguments do not fit its actor.

    Calling the actor would raise TypeError on every attempt, so retrying only
    delays the verdict; the message goes to the dead-letter set with the reason.
    """

    def __init__(self) -> None:
        self._signatures: dict[str, inspect.Signature] = {}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        actor = broker.get_actor(message.actor_name)
        signature = self._signatures.get(actor.actor_name)
        if signature is None:
            signature = self._signatures[actor.actor_name] = inspect.signature(actor.fn)
        try:
            signature.bind(*message.args, **message.kwargs)
        except TypeError as error:
            message.options["dead_letter_reason"] = f"Arguments do not fit {actor.actor_name}{signature}: {error}"
            message.options["exception_type"] = "TypeError"
            message.fail()
            raise SkipMessage(str(error)) from None


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
        self._worker_id: Optional[str] = None
        self._info: dict = {}
        self._running: dict[str, dict] = {}
        self._running_changed = False
        self._counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # minute -> [processed, failed]
        self._periodic: dict[str, dict] = {}

    def after_worker_boot(self, broker: Broker, worker) -> None:
        self._worker_id = _worker_id(broker)
        self._info = {
            "host": socket.gethostname(), "pid": os.getpid(),
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "started_ms": int(time.time() * 1000),
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
                "message_id": message.message_id, "actor": message.actor_name, "queue": message.queue_name,
                "started_ms": int(time.time() * 1000),
            }
            self._running_changed = True

    def after_process_message(self, broker: Broker, message: MessageProxy, *, result=None,
                              exception: Optional[BaseException] = None) -> None:
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
                self._periodic[message.actor_name] = {"last_run_ms": int(now * 1000),
                                                      "outcome": "failed" if failed else "processed"}

    def flush(self) -> None:
        if self._worker_id is None:
            return
        with self._lock:
            running = dict(self._running) if self._running_changed else None
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
            periodic, self._periodic = self._periodic, {}
            self._running_changed = False
        try:
            stats.publish_worker_stats(self._worker_id, self._info, running,
                                              {m: tuple(c) for m, c in counts.items()}, periodic)
        except Exception as error:
            logger.warning("Job statistics not published (kept for the next try): %s", error)
            with self._lock:
                for minute, (processed, failed) in counts.items():
                    self._counts[minute][0] += processed
                    self._counts[minute][1] += failed
                self._periodic = {**periodic, **self._periodic}
                self._running_changed = self._running_changed or running is not None
