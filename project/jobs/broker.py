"""The project's Redis broker: Dramatiq's, with a consumer that never stalls on a bad body."""
from __future__ import annotations

import logging

from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.errors import DecodeError

from . import broker_store

logger = logging.getLogger(__name__)


class _Consumer(_RedisConsumer):
    """Dramatiq's consumer raises on a body it cannot decode, which restarts the
    consumer and leaves that message (and the rest of the prefetched batch)
    unacked until the worker dies. Here such a body goes to the dead-letter set
    with its reason and the consumer carries on with the next message."""

    def __next__(self):
        while True:
            try:
                return super().__next__()
            except DecodeError as error:
                reason = f"Message body is not a valid Dramatiq message: {error.error!r}"
                redis_id = broker_store.bury_undecodable(self.broker.broker_id, self.queue_name, error.data, reason)
                logger.error("Dead-lettered an undecodable message %s on %r: %s", redis_id, self.queue_name, reason)


class RedisBroker(DramatiqRedisBroker):
    @property
    def consumer_class(self):
        return _Consumer
