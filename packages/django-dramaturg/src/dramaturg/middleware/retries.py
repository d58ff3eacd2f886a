"""Retries with settings-driven backoff that never lose a message to a Redis outage."""

from __future__ import annotations

import logging
from typing import Any

import redis
from dramatiq.broker import Broker, MessageProxy
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Retries

from dramaturg import conf
from dramaturg.broker import put_back_instead_of_ack

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
        try:
            super().after_process_message(broker, message, result=result, exception=exception)
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
