"""The project's Redis broker: Dramatiq's, with a consumer that never stalls on a bad message
and never drops a message it fetched, and maintenance that can be run on demand."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from uuid import uuid4

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker as DramatiqRedisBroker
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff, current_millis
from dramatiq.errors import ConnectionClosed, DecodeError
from dramatiq.message import Message

from .store import control, delayed, fetched, queues
from .store.delayed import HELD_DELAYED
from .store.messages import UNDECODABLE

logger = logging.getLogger(__name__)

# Set on a MessageProxy (by ConfiguredRetries) whose retry could not be enqueued:
# the consumer then puts the message itself back on its queue instead of acking it.
_PUT_BACK = "_jobs_put_back_reason"

# What a consumer left in its prefetch cache when it was closed by an error, keyed by
# (broker id, queue): the same messages sit in the same ack set, so its successor on
# that queue (same process, same broker id) delivers them instead of stranding them.
_leftovers: dict[tuple[str, str], list[bytes | None]] = {}
_started: set[tuple[str, str]] = set()
_registry_lock = threading.Lock()


def put_back_instead_of_ack(message: MessageProxy, reason: str) -> None:
    """Have the consumer return `message` to its queue (when Redis answers) instead of acking it."""
    setattr(message, _PUT_BACK, reason)


def _broker_error(error: Exception) -> ConnectionClosed:
    # Dramatiq retries post-processing (ack, nack) only on its own connection error;
    # a Redis timeout is as transient as a refused connection.
    return ConnectionClosed(error)


def malformed_reason(message: Message) -> str | None:
    """Why a decoded message cannot be run and acked safely, or None if it can."""
    if not isinstance(message.options, dict):
        return f"Message options are not a JSON object (got {type(message.options).__name__})"
    if not isinstance(message.kwargs, dict):
        return f"Message kwargs are not a JSON object (got {type(message.kwargs).__name__})"
    for name in ("message_id", "actor_name", "queue_name"):
        if not isinstance(getattr(message, name), str):
            return f"Message {name} is not a string"
    if not isinstance(message.options.get("redis_message_id"), str):
        return "Message has no redis_message_id in its options (was it written to Redis outside the broker?)"
    return None


class _Consumer(_RedisConsumer):
    """Dramatiq's consumer, made to lose nothing it fetched.

    - A body it cannot decode, a decoded message it cannot run or ack (options not
      an object, no ``redis_message_id``, ...) and an id queued without a body go
      to the dead-letter set with the reason; Dramatiq's own would restart, or run
      the message and then fail to ack it, leaving it in progress for ever.
    - Messages still in its prefetch cache when an error closes it go to its
      successor; a restarted delay-queue consumer puts back what its predecessor
      held (Dramatiq drops its in-memory delayed messages on a connection error,
      leaving them unacked while the worker lives).
    - Acks, nacks and requeues turn Redis timeouts, too, into connection errors,
      which Dramatiq's post-processing retries until Redis answers.
    """

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        key = (broker.broker_id, queue_name)
        with _registry_lock:
            restarted = key in _started
            _started.add(key)
            leftovers = _leftovers.pop(key, [])
        self._recover_delayed = restarted and queue_name.endswith(".DQ")
        if self._recover_delayed:
            leftovers = []  # put back with the rest of the ack set below
        self.message_cache = leftovers

    def close(self) -> None:
        if self.message_cache:
            with _registry_lock:
                _leftovers.setdefault((self.broker.broker_id, self.queue_name), []).extend(self.message_cache)
            self.message_cache = []
        super().close()

    def ack(self, message: MessageProxy) -> None:
        reason = vars(message).get(_PUT_BACK)  # not getattr: the proxy would ask the message, and raise
        try:
            if reason is None:
                self.broker.do_ack(self.queue_name, message.options["redis_message_id"])
            else:
                self.broker.do_requeue(self.queue_name, message.options["redis_message_id"])
                logger.warning("Put message %s back on queue %r instead of acking it: %s",
                               message.message_id, self.queue_name, reason)
        except redis.RedisError as error:
            raise _broker_error(error) from None
        finally:
            self.queued_message_ids.discard(message.message_id)

    def nack(self, message: MessageProxy) -> None:
        try:
            self.broker.do_nack(self.queue_name, message.options["redis_message_id"])
        except redis.RedisError as error:
            raise _broker_error(error) from None
        finally:
            self.queued_message_ids.discard(message.message_id)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        try:
            super().requeue(messages)
        except redis.RedisError as error:
            raise _broker_error(error) from None

    def __next__(self) -> MessageProxy | None:
        # Dramatiq's loop, with each body checked before it is handed out.
        try:
            if self._recover_delayed:
                self._put_back_unacked()
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    try:
                        message = self._sound_or_buried(data)
                    except redis.RedisError:
                        self.message_cache.insert(0, data)  # still unacked: close() hands it to the successor
                        raise
                    if message is None:
                        continue
                    self.misses = 0
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                messages = []
                if self.outstanding_message_count < self.prefetch and not self._queue_paused():
                    self.message_cache = messages = self.broker.do_fetch(
                        self.queue_name, self.prefetch - self.outstanding_message_count)
                if not messages:
                    # Nothing fetched: poll progressively less often, up to the idle timeout.
                    self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                    time.sleep(backoff_ms / 1000)
                    return None
        except redis.RedisError as error:
            raise _broker_error(error) from None

    PAUSE_CHECK_S = 1.0
    _paused = False
    _paused_checked_at = float("-inf")

    def _queue_paused(self) -> bool:
        """Whether an operator paused this queue (jobs.store.control), asked Redis at most once a
        second: a paused queue is not fetched from. Its delay queue still is, so due retries land
        in the paused queue and wait there with everything else."""
        if self.queue_name.endswith(".DQ"):
            return False
        now = time.monotonic()
        if now - self._paused_checked_at >= self.PAUSE_CHECK_S:
            self._paused = control.is_paused(self.queue_name, self.broker.client)
            self._paused_checked_at = now
        return self._paused

    def _sound_or_buried(self, data: bytes | None) -> Message | None:
        """The decoded message, or None once a body that cannot be run was dead-lettered."""
        if data is None:
            self._bury_bodiless()
            return None
        try:
            message = Message.decode(data)
        except DecodeError as error:
            self._bury(data, None, f"Message body is not a valid Dramatiq message: {error.error!r}",
                       UNDECODABLE)
            return None
        reason = malformed_reason(message)
        if reason:
            self._bury(data, message, reason, fetched.MALFORMED)
            return None
        return message

    def _put_back_unacked(self) -> None:
        redis_ids = fetched.unacked_ids(self.broker.broker_id, self.queue_name)
        if redis_ids:
            self.broker.do_requeue(self.queue_name, *redis_ids)
            logger.warning("Put %d delayed message(s) back on %r after a consumer restart", len(redis_ids),
                           self.queue_name)
        self._recover_delayed = False

    def _bury(self, raw: bytes, message: Message | None, reason: str, exception_type: str) -> None:
        redis_id = fetched.bury_fetched(self.broker.broker_id, self.queue_name, raw,
                                             message.asdict() if message else None, reason, exception_type)
        logger.error("Dead-lettered message %s on %r: %s", redis_id, self.queue_name, reason)

    def _bury_bodiless(self) -> None:
        reason = "Message id was queued without a body"
        for redis_id in fetched.bury_bodiless(self.broker.broker_id, self.queue_name, reason):
            logger.error("Dead-lettered message %s on %r: %s", redis_id, self.queue_name, reason)


class RedisBroker(DramatiqRedisBroker):
    @property
    def consumer_class(self) -> Any:
        return _Consumer

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue, and add it to the registry the dashboard lists queues from."""
        new = queue_name not in self.queues
        super().declare_queue(queue_name)
        if new:
            queues.register_queue(self, queue_name)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Enqueue a message. A delayed message a worker held until due (marked by
        jobs.middleware.delayed.HeldDelayedMessages) goes to its queue only if it is still
        delayed: an operator may have retried it already or killed it (jobs.store.delayed)."""
        held = message.options.get(HELD_DELAYED)
        if held is None or delay is not None:
            return super().enqueue(message, delay=delay)
        options = {k: v for k, v in message.options.items() if k != HELD_DELAYED}
        options.update(redis_message_id=str(uuid4()), ready_at=current_millis())
        message = replace(message, options=options)
        self.emit_before("enqueue", message, None)
        if not delayed.promote(self.client, message.queue_name, held, options["redis_message_id"],
                               message.encode()):
            logger.info("Delayed message %s was retried or killed by an operator before it was due; not enqueued "
                        "again", message.message_id)
            return message
        self.emit_after("enqueue", message, None)
        return message

    def run_maintenance(self, queue_name: str) -> None:
        """Run the broker's maintenance for one queue now, not by chance: the unacked
        messages of workers silent for `heartbeat_timeout` go back to the queue, dead
        letters older than `dead_message_ttl` are deleted (Dramatiq's dispatch script;
        "maintenance" is no command of its own, so nothing else happens)."""
        self.scripts["dispatch"](
            args=["maintenance", current_millis(), queue_name, self.broker_id, self.heartbeat_timeout,
                  self.dead_message_ttl, 1, self._max_unpack_size()],
            keys=[self.namespace],
        )

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


