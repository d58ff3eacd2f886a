"""Dramatiq middleware configured from Django settings."""
from __future__ import annotations

import logging
import time
import traceback

from django.conf import settings
from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, Retries

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


class DeadLetterDetails(Middleware):
    """Keep why a message died next to it in the dead-letter set.

    The Redis broker moves the body that was *enqueued* into ``<queue>.XQ.msgs``,
    so the last failure's traceback (set in memory by Retries) would be lost, and
    a message that never reached Retries (unknown actor, ``throws``) would carry
    none. After the nack we store the in-memory message with its traceback,
    a one-line reason and the time it died.
    """

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        options = message.options
        exc = message._exception
        if exc is not None:
            options["traceback"] = "".join(traceback.format_exception(exc, limit=30))
            options["dead_letter_reason"] = f"{type(exc).__name__}: {exc}"[:500]
            options["exception_type"] = type(exc).__name__
        options.setdefault("dead_letter_reason", "Rejected")
        options["dead_lettered_at"] = int(time.time() * 1000)
        try:
            broker_store.save_dead_letter_details(
                message.queue_name, options["redis_message_id"], message._message.encode()
            )
        except Exception:  # The message is already safe in the DLQ; only the details are lost.
            logger.exception("Could not store dead-letter details of %s", message.message_id)
