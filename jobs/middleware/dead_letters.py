"""Why a message died, kept next to it in the dead-letter set."""

from __future__ import annotations

import logging
import traceback

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from jobs.store import dead_letters
from jobs.store.messages import NO_EXCEPTION
from jobs.timeutil import now_ms

logger = logging.getLogger(__name__)


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
        options["dead_lettered_at"] = now_ms()
        try:
            dead_letters.record_dead_letter(
                message.queue_name,
                options["redis_message_id"],
                message._message.encode(),
                message.actor_name,
                options["exception_type"],
            )
        except Exception:  # The message is already safe in the DLQ; only the details are lost.
            logger.exception("Could not record dead-letter details of %s", message.message_id)
