"""Delayed messages a worker holds in memory stay under the operator's control."""

from __future__ import annotations

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware

from dramaturg.store.delayed import HELD_DELAYED


class HeldDelayedMessages(Middleware):
    """Mark each delayed message a worker takes into memory (a retry waiting for its backoff).

    Dramatiq's worker fetches delayed messages early and, when due, enqueues a copy on the
    queue. An operator may meanwhile have retried the message now or killed it (the Retries
    tab); the mark tells the broker (dramaturg.broker.RedisBroker.enqueue) that the copy is such a
    promotion, which then goes to the queue only if the message is still delayed.
    The mark lives only in the worker's memory; it is never stored with the message.
    """

    def before_delay_message(self, broker: Broker, message: MessageProxy) -> None:
        message.options[HELD_DELAYED] = message.options.get("redis_message_id")
