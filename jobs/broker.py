"""The project's Redis broker: Dramatiq's, with a consumer that never stalls on a bad body."""
from __future__ import annotations

import logging
from typing import Iterable
from uuid import uuid4

from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import current_millis
from dramatiq.errors import DecodeError
from dramatiq.message import Message

from .store import dead_letters, queues

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
                redis_id = dead_letters.bury_undecodable(self.broker.broker_id, self.queue_name, error.data, reason)
                logger.error("Dead-lettered an undecodable message %s on %r: %s", redis_id, self.queue_name, reason)


class RedisBroker(DramatiqRedisBroker):
    @property
    def consumer_class(self):
        return _Consumer

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue, and add it to the registry the dashboard lists queues from."""
        new = queue_name not in self.queues
        super().declare_queue(queue_name)
        if new:
            queues.register_queue(self, queue_name)

    def enqueue_many(self, messages: Iterable[Message]) -> list[Message]:
        """Enqueue many messages in one round trip (a pipeline of the broker's own
        enqueue script), with the same middleware hooks as `enqueue`."""
        pipe = self.client.pipeline(transaction=False)
        script = self.scripts["dispatch"]
        enqueued = []
        for message in messages:
            message = message.copy(options={"redis_message_id": str(uuid4())})
            self.emit_before("enqueue", message, None)
            args = ["enqueue", current_millis(), message.queue_name, self.broker_id, self.heartbeat_timeout,
                    self.dead_message_ttl, self._should_do_maintenance("enqueue"), self._max_unpack_size(),
                    message.options["redis_message_id"], message.encode()]
            script(args=args, keys=[self.namespace], client=pipe)
            enqueued.append(message)
        if enqueued:
            pipe.execute()
        for message in enqueued:
            self.emit_after("enqueue", message, None)
        return enqueued
