"""Why a message died, kept next to it in the dead-letter set."""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, SkipMessage

from dramaturg.broker import exception_of, file_with_nack, filed_with_nack, message_of
from dramaturg.store import dead_letters
from dramaturg.store.messages import NO_EXCEPTION
from dramaturg.timeutil import now_ms
from dramaturg.tracebacks import traceback_text

logger = logging.getLogger(__name__)

_DETAILS = "_jobs_dead_letter_details"  # on a MessageProxy: why it died, computed before its nack
_REJECTED = "Rejected by middleware (for example, too old)"


class DeadLetterDetails(Middleware):
    """Keep why a message died next to it in the dead-letter set, and file it by group.

    The Redis broker moves the body that was *enqueued* into ``<queue>.XQ.msgs``,
    so the last failure's traceback (set in memory by Retries) would be lost, and
    a message that never reached Retries (unknown actor, ``throws``) would carry
    none. We store the in-memory message with its traceback, a one-line reason
    and the time it died, and count it under (queue, actor, exception type) for
    the dashboard: with the nack itself, in the same script call, when the
    project's broker nacks (``dramaturg.broker.file_with_nack``), else after it.
    """

    def before_nack(self, broker: Broker, message: MessageProxy) -> None:
        # The project's consumer files the letter with the nack itself, in the same round trip.
        try:
            file_with_nack(message, message_of(message).copy(options=self._details(message)))
        except Exception:  # never in the nack's way: it is filed after it, on its own
            logger.exception("Could not describe dead letter %s before its nack", message.message_id)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        message.options.update(self._details(message))  # what later middleware reads, as before
        if filed_with_nack(message):
            return
        try:  # another broker's nack, or one retried after a connection error: filed on its own
            dead_letters.record_dead_letter(
                message.queue_name,
                message.options["redis_message_id"],
                message_of(message).encode(),
                message.actor_name,
                message.options["exception_type"],
            )
        except Exception:  # The message is already safe in the DLQ; only the details are lost.
            logger.exception("Could not record dead-letter details of %s", message.message_id)

    @staticmethod
    def _details(message: MessageProxy) -> dict[str, Any]:
        """The options that describe why `message` died (computed once; kept on the proxy)."""
        details = vars(message).get(_DETAILS)
        if details is not None:
            return details
        options = message.options
        exc = exception_of(message)
        details = {}
        if isinstance(exc, SkipMessage) and options.get("dead_letter_reason"):
            pass  # rejected before it ran (ValidateArguments): the reason is already set
        elif exc is not None:
            details["traceback"] = traceback_text(exc)  # formatted once: the failure's log line has it too
            details["dead_letter_reason"] = f"{type(exc).__name__}: {exc}"[:500]
            details["exception_type"] = type(exc).__name__
        else:
            details["dead_letter_reason"] = options.get("dead_letter_reason", _REJECTED)
            details["exception_type"] = options.get("exception_type", NO_EXCEPTION)
        details["dead_lettered_at"] = now_ms()
        setattr(message, _DETAILS, details)
        return details
