"""Retries with settings-driven backoff that never lose a message to a Redis outage."""

from __future__ import annotations

import logging
from typing import Any

import redis
from dramatiq.broker import Broker, MessageProxy
from dramatiq.common import compute_backoff
from dramatiq.errors import BrokerConnectionError, Retry
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from dramaturg import conf
from dramaturg.broker import put_back_instead_of_ack
from dramaturg.timeutil import now_ms
from dramaturg.tracebacks import retry_traceback_text

logger = logging.getLogger(__name__)


class ConfiguredRetries(Retries):
    """Retries with exponential backoff whose bounds come from settings.

    Actors still override them with ``max_retries`` / ``min_backoff`` / ``max_backoff``.

    Dramatiq's Retries enqueues the retry in ``after_process_message``; when Redis
    is unreachable that raises, the failure is only logged, and the message is then
    acked once Redis is back: the job is lost. Here the message is instead put back
    on its queue, unchanged (same retry count), by the consumer's ack, which
    Dramatiq retries every few seconds until Redis answers. The same holds when a
    message out of retries cannot send its ``on_retry_exhausted`` callback: it is
    put back and runs out of retries again later, rather than dying silently.

    A failure is decided as Dramatiq 2.2.1's Retries decides it (pinned in tests/upstream/test_pins.py),
    with the traceback a retry keeps taken from `dramaturg.tracebacks`: the one the failure's log line
    and dead letter show, formatted once, where Dramatiq formats it again.
    """

    def __init__(self) -> None:
        super().__init__(
            max_retries=conf.settings.RETRIES.MAX_RETRIES,
            min_backoff=conf.settings.RETRIES.MIN_BACKOFF_MS,
            max_backoff=conf.settings.RETRIES.MAX_BACKOFF_MS,
        )

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None:
            return
        try:
            self._decide(broker, message, exception)
        except (redis.RedisError, BrokerConnectionError) as error:
            what = "on_retry_exhausted callback" if message.failed else "retry"
            message.failed = False  # not to the dead-letter set: back to the queue, to be decided again
            put_back_instead_of_ack(message, f"its {what} could not be enqueued ({error})")
            logger.warning(
                "The %s of message %s could not be enqueued (%s: %s); the message goes back on its "
                "queue as soon as Redis answers.",
                what,
                message.message_id,
                type(error).__name__,
                error,
            )

    def _decide(self, broker: Broker, message: MessageProxy, exception: BaseException) -> None:
        """Dramatiq's Retries.after_process_message for a failure: fail it (an expected exception, or out
        of retries, then its `on_retry_exhausted` callback) or enqueue it again after its backoff."""
        actor = broker.get_actor(message.actor_name)
        options = message.options

        def option(name: str, default: Any = None) -> Any:
            return options.get(name, actor.options.get(name, default))

        throws = options.get("throws") or actor.options.get("throws")
        if throws and isinstance(exception, throws):
            self.logger.info("Aborting message %r.", message.message_id)
            message.fail()
            return
        retries = options.setdefault("retries", 0)
        options["retries"] = retries + 1
        options["traceback"] = retry_traceback_text(exception)
        options["requeue_timestamp"] = now_ms()
        max_retries = option("max_retries", self.max_retries)
        retry_when = actor.options.get("retry_when", self.retry_when)
        if retry_when is not None:
            exhausted = not retry_when(retries, exception)
        else:
            exhausted = max_retries is not None and retries >= max_retries
        if exhausted:
            self.logger.warning("Retries exceeded for message %r.", message.message_id)
            message.fail()
            callback = options.get("on_retry_exhausted") or actor.options.get("on_retry_exhausted")
            if callback:
                broker.get_actor(callback).send(message.asdict(), {"retries": retries, "max_retries": max_retries})
            return
        if isinstance(exception, Retry) and exception.delay is not None:
            delay = exception.delay
        else:
            max_backoff = min(option("max_backoff", self.max_backoff), DEFAULT_MAX_BACKOFF)
            _, delay = compute_backoff(retries, factor=option("min_backoff", self.min_backoff), max_backoff=max_backoff)
        self.logger.info("Retrying message %r in %d milliseconds.", message.message_id, delay)
        broker.enqueue(message, delay=delay)  # type: ignore[arg-type]  # the proxy, as Dramatiq enqueues it
