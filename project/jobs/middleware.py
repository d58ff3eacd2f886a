"""Dramatiq middleware configured from Django settings, and the bookkeeping the dashboard reads."""
from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import time
import traceback
from typing import Optional

from django.conf import settings
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, Retries, SkipMessage

from . import broker_store

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
            options.setdefault("exception_type", broker_store.NO_EXCEPTION)
        options["dead_lettered_at"] = int(time.time() * 1000)
        try:
            broker_store.record_dead_letter(
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

    One Redis write when a job starts and one pipeline when it ends; a failure
    to write is logged and never fails the job. Each worker process re-registers
    itself every few seconds, so its entry comes back after a Redis restart.
    """

    REGISTER_EVERY_S = 10.0

    def __init__(self) -> None:
        self._stop = threading.Event()

    def after_worker_boot(self, broker: Broker, worker) -> None:
        info = {
            "host": socket.gethostname(), "pid": os.getpid(),
            "queues": sorted(worker.consumer_whitelist or broker.get_declared_queues()),
            "started_ms": int(time.time() * 1000),
        }
        self._safely(broker_store.register_worker, _worker_id(broker), info)
        threading.Thread(target=self._keep_registered, args=(_worker_id(broker), info), daemon=True,
                         name="JobStatsRegistration").start()

    def _keep_registered(self, worker_id: str, info: dict) -> None:
        while not self._stop.wait(self.REGISTER_EVERY_S):
            self._safely(broker_store.register_worker, worker_id, info)

    def before_worker_shutdown(self, broker: Broker, worker) -> None:
        self._stop.set()
        self._safely(broker_store.unregister_worker, _worker_id(broker))

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._safely(broker_store.job_started, _worker_id(broker), message.message_id, {
            "message_id": message.message_id, "actor": message.actor_name, "queue": message.queue_name,
            "started_ms": int(time.time() * 1000),
        })

    def after_process_message(self, broker: Broker, message: MessageProxy, *, result=None,
                              exception: Optional[BaseException] = None) -> None:
        actor = broker.actors.get(message.actor_name)
        periodic = message.actor_name if actor is not None and "periodic" in actor.options else None
        self._safely(broker_store.job_finished, _worker_id(broker), message.message_id,
                     failed=exception is not None, periodic_actor=periodic)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._safely(broker_store.job_finished, _worker_id(broker), message.message_id, failed=message.failed)

    @staticmethod
    def _safely(function, *args, **kwargs) -> None:
        try:
            function(*args, **kwargs)
        except Exception as error:
            logger.warning("Job statistics not recorded (%s): %s", function.__name__, error)
