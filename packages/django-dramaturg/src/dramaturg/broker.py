"""The project's Redis broker: Dramatiq's, with a consumer that never stalls on a bad message
and never drops a message it fetched, and maintenance that can be run on demand.

The one module allowed Dramatiq's private names. Written against dramatiq 2.2.1
(brokers/redis.py: _RedisConsumer, RedisBroker._should_do_maintenance; broker.py:
MessageProxy._message/_exception); tests/upstream/test_pins.py fails when any of them changes.
"""

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
from dramatiq.common import current_millis
from dramatiq.errors import BrokerConnectionError, ConnectionClosed, DecodeError
from dramatiq.message import Message

from .hook_dispatch import HookDispatch
from .store import control, dead_letters, delayed, fetched, handoff, queues
from .store.delayed import HELD_DELAYED
from .store.messages import UNDECODABLE

logger = logging.getLogger(__name__)


def message_of(proxy: MessageProxy) -> Message:
    """The message a worker's proxy wraps (read directly: each attribute through the proxy
    costs a __getattr__)."""
    return proxy._message


def exception_of(proxy: MessageProxy) -> BaseException | None:
    """The exception the last attempt of `proxy` raised, if any."""
    return proxy._exception


# Set on a MessageProxy (by ConfiguredRetries) whose retry could not be enqueued:
# the consumer then puts the message itself back on its queue instead of acking it.
_PUT_BACK = "_jobs_put_back_reason"

# What a consumer left in its prefetch cache when it was closed by an error, keyed by
# (broker id, queue): the same messages sit in the same ack set, so its successor on
# that queue (same process, same broker id) delivers them instead of stranding them.
_leftovers: dict[tuple[str, str], list[bytes | None]] = {}
# Likewise the acks it had not yet flushed (redis ids): its successor sends them.
_leftover_acks: dict[tuple[str, str], list[str]] = {}
# Redis ids handed to worker threads and not yet acked, nacked or put back, shared by a consumer
# and its successors on the same ack set: a successor acks what its predecessor handed out.
_in_hand: dict[tuple[str, str], set[str]] = {}
_started: set[tuple[str, str]] = set()
_registry_lock = threading.Lock()


def put_back_instead_of_ack(message: MessageProxy, reason: str) -> None:
    """Have the consumer return `message` to its queue (when Redis answers) instead of acking it."""
    setattr(message, _PUT_BACK, reason)


# Set on a MessageProxy (by DeadLetterDetails, before its nack): the message as its dead letter is to
# be filed (its reason and traceback in its options). The consumer then nacks and files it in one
# round trip, and sets _FILED; a nack without it is Dramatiq's. A nack retried after a connection error
# is set again (before_nack runs again) and files nothing twice: the script files only a held message.
_FILE_WITH_NACK = "_jobs_file_with_nack"
_FILED = "_jobs_dead_letter_filed"


def file_with_nack(message: MessageProxy, dead_letter: Message) -> None:
    """Have the consumer's nack of `message` also file `dead_letter` (the message, described), at once."""
    setattr(message, _FILE_WITH_NACK, dead_letter)


def filed_with_nack(message: MessageProxy) -> bool:
    """Whether the consumer's nack filed the dead letter handed to `file_with_nack`."""
    return bool(vars(message).get(_FILED))  # not getattr: the proxy would ask the message


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
    - Acks go in batches and an idle consumer waits for a pushed wake-up instead of
      polling (see "batched acks and push wake-ups" below).
    """

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        key = (broker.broker_id, queue_name)
        with _registry_lock:
            restarted = key in _started
            _started.add(key)
            leftovers = _leftovers.pop(key, [])
            self._in_hand = _in_hand.setdefault(key, set())
        self._recover_delayed = restarted and queue_name.endswith(".DQ")
        if self._recover_delayed:
            leftovers = []  # put back with the rest of the ack set below
        self.message_cache = leftovers
        self._init_batched_acks(broker, prefetch, timeout)

    def close(self) -> None:
        if self.message_cache:
            with _registry_lock:
                _leftovers.setdefault((self.broker.broker_id, self.queue_name), []).extend(self.message_cache)
            self.message_cache = []
        self._close_batched_acks()
        super().close()

    def ack(self, message: MessageProxy) -> None:
        reason = vars(message).get(_PUT_BACK)  # not getattr: the proxy would ask the message, and raise
        if reason is None and self._batching():
            self._hand_ack(message)  # flushed in a batch (below); the id leaves queued_message_ids then
            return
        redis_id = message.options["redis_message_id"]
        try:
            if reason is None:
                self.broker.do_ack(self.queue_name, redis_id)
            else:
                self.broker.do_requeue(self.queue_name, redis_id)
                logger.warning(
                    "Put message %s back on queue %r instead of acking it: %s",
                    message.message_id,
                    self.queue_name,
                    reason,
                )
            self._in_hand.discard(redis_id)
        except redis.RedisError as error:
            raise _broker_error(error) from None
        finally:
            self._free_slot(message.message_id)

    def nack(self, message: MessageProxy) -> None:
        redis_id = message.options["redis_message_id"]
        dead_letter = vars(message).pop(_FILE_WITH_NACK, None)
        try:
            if dead_letter is None:
                self.broker.do_nack(self.queue_name, redis_id)
            elif self.broker.nack_and_file(self.queue_name, redis_id, dead_letter):
                setattr(message, _FILED, True)
            self._in_hand.discard(redis_id)
        except redis.RedisError as error:
            raise _broker_error(error) from None
        finally:
            self._free_slot(message.message_id)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        try:
            super().requeue(messages)
        except redis.RedisError as error:
            raise _broker_error(error) from None

    def __next__(self) -> MessageProxy | None:
        # Dramatiq's loop, with each body checked before it is handed out, acks sent in batches,
        # fetches made in batches too, and an idle wait woken by a push instead of a poll.
        try:
            if self._recover_delayed:
                self._flush_acks()  # the predecessor's unsent acks: those messages were handed on already
                self._put_back_unacked()
            while True:
                if self._acks_due():
                    self._flush_acks()
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
                    self._in_hand.add(message.options["redis_message_id"])
                    self._note_eta(message)
                    return MessageProxy(message)
                room = self.prefetch - self.outstanding_message_count
                if not self._worth_fetching(room):
                    self._wait_for_acks()
                    return None
                if self._strays_due():
                    self._put_back_strays()
                if self._queue_paused():
                    # Paused, or the worker quieted, by an operator: fetch nothing, look again within a second.
                    self._flush_acks()
                    time.sleep(min(self.PAUSE_CHECK_S, self.timeout / 1000))
                    return None
                after_wake, self._woken = self._woken, False
                self.message_cache = self.broker.do_fetch(self.queue_name, room)
                if not self.message_cache:
                    self._wait_for_wake(stale=after_wake)
                    return None
        except redis.RedisError as error:
            raise _broker_error(error) from None

    PAUSE_CHECK_S = 1.0
    _paused = False
    _paused_checked_at = float("-inf")

    def _queue_paused(self) -> bool:
        """Whether an operator paused this queue or told this worker to stop taking work
        (dramaturg.store.control), asked Redis at most once a second: nothing is fetched then. A paused
        queue's delay queue still is fetched from, so due retries land in the paused queue and wait
        there with everything else; a quiet worker fetches from neither."""
        now = time.monotonic()
        if now - self._paused_checked_at >= self.PAUSE_CHECK_S:
            self._paused = control.fetch_stopped(self.queue_name, self.broker.broker_id, self.broker.client)
            self._paused_checked_at = now
        return self._paused

    # --- batched acks and push wake-ups ------------------------------------------------------
    #
    # Worker threads hand the consumer the ids of the messages they finished; the consumer sends
    # them in one script call when `ack_batch` are pending or the oldest has waited
    # `ack_flush_ms`, and fetches again only when that much room is free in its prefetch window,
    # so a busy consumer makes about two Redis round trips per `ack_batch` jobs instead of two
    # per job. Nacks and put-backs stay immediate, and so do acks while fewer than a batch of
    # messages are in hand (nothing to batch with); each of those frees its slot at once and wakes a
    # consumer waiting on a full window as a batch of acks does (`_free_slot`): a window full of
    # failing jobs (nacked: out of retries, too old, invalid) is refilled as fast as one of
    # successes, never after the worker timeout. When the queue is empty the consumer sends
    # what is pending and blocks on the queue's wake list (BLPOP, up to the worker timeout). A process that dies
    # between a job's end and its ack's flush leaves the message unacked: it runs again once the
    # worker's heartbeat is stale (at-least-once; the actors are idempotent).

    def _init_batched_acks(self, broker: RedisBroker, prefetch: int, timeout: int) -> None:
        self._acks_lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []  # (message id, redis id) finished, not yet flushed
        with _registry_lock:
            self._retry_acks: list[str] = _leftover_acks.pop((broker.broker_id, self.queue_name), [])
        self._pending_since = 0.0
        self._slot_freed = threading.Event()  # set by worker threads: acks due, or room worth a fetch
        self._idle = False
        self._closed = False
        self._etas: dict[str, int] = {}  # delay queue: message id -> eta (ms) of the messages it holds
        self._batch = max(1, min(broker.ack_batch, prefetch // 4))
        self._flush_s = broker.ack_flush_ms / 1000
        self._idle_wait_s = broker.idle_wait_seconds(timeout)

    def _hand_ack(self, message: MessageProxy) -> None:
        with self._acks_lock:
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append((message.message_id, message.options["redis_message_id"]))
            pending = len(self._pending)
        if self._idle:
            self._flush_acks()  # the consumer went idle meanwhile (it sets the flag before its last flush)
        elif pending == 1 or pending >= self._batch:
            self._slot_freed.set()

    def _free_slot(self, message_id: str) -> None:
        """A message left the worker's hands at once (nacked, put back, acked unbatched): its slot in
        the prefetch window is free now. Wake the consumer once the room is worth a fetch, as a batch
        of acks does; a consumer waiting on a full window would otherwise sleep the worker timeout."""
        self.queued_message_ids.discard(message_id)
        if self._worth_fetching(self.prefetch - self.outstanding_message_count):
            self._slot_freed.set()

    def _batching(self) -> bool:
        """Batch acks only under load (a batch's worth of messages in hand). Otherwise the worker thread
        acks at once, as Dramatiq does, and a failed ack goes back to Dramatiq's post-processing,
        which holds the thread and retries: batching would gain nothing there."""
        return self._batch > 1 and not self._idle and not self._closed and len(self.queued_message_ids) >= self._batch

    def _acks_due(self) -> bool:
        return bool(self._retry_acks) or (
            bool(self._pending)
            and (len(self._pending) >= self._batch or time.monotonic() - self._pending_since >= self._flush_s)
        )

    def _flush_acks(self) -> bool:
        """Send the pending acks in one call; False if Redis failed. Unsent acks are kept and sent with
        the next flush (the consumer's next fetch fails too, and its successor inherits them)."""
        with self._acks_lock:
            batch, self._pending = self._pending, []
            retry, self._retry_acks = self._retry_acks, []
        if not batch and not retry:
            return True
        redis_ids = retry + [redis_id for _, redis_id in batch]
        try:
            self.broker.do_ack(self.queue_name, *redis_ids)
            self._in_hand.difference_update(redis_ids)
            return True
        except (redis.RedisError, BrokerConnectionError) as error:
            with self._acks_lock:
                self._retry_acks[:0] = redis_ids
            logger.warning(
                "Could not ack %d message(s) on %r (%s); retrying with the next batch",
                len(redis_ids),
                self.queue_name,
                error,
            )
            return False
        finally:
            for message_id, _ in batch:
                self.queued_message_ids.discard(message_id)

    def _worth_fetching(self, room: int) -> bool:
        """Fetch when a batch's worth of room is free, or any room once nothing is left in hand."""
        return room >= self._batch or (room > 0 and not self.queued_message_ids)

    def _wait_for_acks(self) -> None:
        """The prefetch window is full: wait until a batch of acks is due, enough slots are freed by
        nacks and put-backs to be worth a fetch, or the worker timeout."""
        self._slot_freed.clear()
        if self._worth_fetching(self.prefetch - self.outstanding_message_count):
            return  # freed between the caller's look and the clear: no wake-up will come for it
        with self._acks_lock:
            since = self._pending_since if self._pending else None
        wait = self.timeout / 1000 if since is None else max(0.0, since + self._flush_s - time.monotonic())
        if not self._retry_acks and wait > 0:
            self._slot_freed.wait(wait)
        if self._acks_due():
            self._flush_acks()
        elif self.broker.heartbeat_due():
            self.broker.do_ack(self.queue_name)  # long jobs, nothing acked: still alive

    _woken = False  # the last idle wait ended with a wake-up token (the next fetch follows it)

    def _wait_for_wake(self, stale: bool = False) -> None:
        """The queue is empty: flush what is pending, then block until a message is put on the
        queue (its wake-up token) or the worker timeout passes, so shutdown is never held longer.
        `stale`: a wake-up led to an empty fetch, so the tokens left are dropped with the wait."""
        self._idle = True  # before the flush: an ack handed in after it is flushed by its own thread
        try:
            self._flush_acks()
            wait = self._until_next_eta(self._idle_wait_s)
            ns, queue = self.broker.namespace, self.queue_name
            if wait > 0 and handoff.wait_for_wake(self.broker.client, ns, queue, wait, stale=stale):
                # Woken by a new message after idling: ask afresh whether the queue was paused meanwhile.
                self._paused_checked_at = float("-inf")
                self._woken = True
        finally:
            self._idle = False

    def _note_eta(self, message: Message) -> None:
        eta = message.options.get("eta")
        if isinstance(eta, int | float) and self.queue_name.endswith(".DQ"):
            self._etas[message.message_id] = int(eta)

    def _until_next_eta(self, wait: float) -> float:
        """A delay-queue consumer wakes by the earliest eta it holds, whatever the worker timeout,
        so the message is handed on in time (Dramatiq's, after its next poll)."""
        if not self._etas:
            return wait
        for message_id in [m for m in self._etas if m not in self.queued_message_ids]:
            del self._etas[message_id]  # handed on and acked
        if not self._etas:
            return wait
        return min(wait, (min(self._etas.values()) - current_millis()) / 1000)

    def _close_batched_acks(self) -> None:
        """Send what is pending; what cannot be sent goes to this queue's next consumer in this
        process, if any (a restart after an error), else stays unacked until the heartbeat lapses."""
        self._closed = True  # acks handed in from now on are sent at once by their worker thread
        self._flush_acks()
        with self._acks_lock:
            left, self._retry_acks = self._retry_acks, []
        if left:
            with _registry_lock:
                _leftover_acks.setdefault((self.broker.broker_id, self.queue_name), []).extend(left)

    def _sound_or_buried(self, data: bytes | None) -> Message | None:
        """The decoded message, or None once a body that cannot be run was dead-lettered."""
        if data is None:
            self._bury_bodiless()
            return None
        try:
            message = Message.decode(data)
        except DecodeError as error:
            self._bury(data, None, f"Message body is not a valid Dramatiq message: {error.error!r}", UNDECODABLE)
            return None
        reason = malformed_reason(message)
        if reason:
            self._bury(data, message, reason, fetched.MALFORMED)
            return None
        return message

    # --- ids left in the ack set that nobody holds ---------------------------------------------
    #
    # After a Redis failover to a replica that missed some of this worker's acks, the new master
    # still lists those messages in this worker's ack set: done, but "in progress" for as long as
    # the worker lives, then run again once its heartbeat lapses. Whenever its prefetch cache is
    # empty, everything in the ack set should be in hand; what is not goes back to the queue (at
    # least once: the actors are idempotent), checked every `stray_check_interval_ms`.

    _strays_checked_at = 0.0

    def _strays_due(self) -> bool:
        now = time.monotonic()
        if not self._strays_checked_at:
            self._strays_checked_at = now  # not at start: a predecessor's hand-over settles first
        if now - self._strays_checked_at < self.broker.stray_check_interval_ms / 1000:
            return False
        self._strays_checked_at = now
        return not self._retry_acks

    def _put_back_strays(self) -> None:
        held = self._in_hand.copy()  # before reading Redis: an id leaves the set only once Redis took its ack
        strays = [i for i in fetched.unacked_ids(self.broker.broker_id, self.queue_name) if i not in held]
        if strays and (back := self.broker.do_requeue(self.queue_name, *strays)):
            logger.warning(
                "Put %d message(s) back on %r that were in this worker's ack set but not in its hands "
                "(an ack lost in a Redis failover?)",
                back,
                self.queue_name,
            )

    def _put_back_unacked(self) -> None:
        unsent = set(self._retry_acks)
        redis_ids = [i for i in fetched.unacked_ids(self.broker.broker_id, self.queue_name) if i not in unsent]
        self._in_hand.difference_update(redis_ids)  # the predecessor's worker dropped what it held
        if redis_ids:
            self.broker.do_requeue(self.queue_name, *redis_ids)
            logger.warning(
                "Put %d delayed message(s) back on %r after a consumer restart", len(redis_ids), self.queue_name
            )
        self._recover_delayed = False

    def _bury(self, raw: bytes, message: Message | None, reason: str, exception_type: str) -> None:
        redis_id = fetched.bury_fetched(
            self.broker.broker_id, self.queue_name, raw, message.asdict() if message else None, reason, exception_type
        )
        logger.error("Dead-lettered message %s on %r: %s", redis_id, self.queue_name, reason)

    def _bury_bodiless(self) -> None:
        reason = "Message id was queued without a body"
        for redis_id in fetched.bury_bodiless(self.broker.broker_id, self.queue_name, reason):
            logger.error("Dead-lettered message %s on %r: %s", redis_id, self.queue_name, reason)


class RedisBroker(HookDispatch, DramatiqRedisBroker):
    """Dramatiq's Redis broker with push wake-ups for idle consumers and batched acks; its middleware
    hooks are called only where a middleware defines them (`dramaturg.hook_dispatch`).

    `ack_batch` / `ack_flush_ms`: a consumer sends acks (and fetches) in batches of this many,
    or after this long; `heartbeat_interval_ms`: how often acks also record the worker's heartbeat;
    `stray_check_interval_ms`: how often a consumer puts back ids in its ack set it does not hold.
    """

    def __init__(
        self,
        *,
        ack_batch: int = 16,
        ack_flush_ms: int = 5,
        heartbeat_interval_ms: int = 1000,
        stray_check_interval_ms: int = 10_000,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.stray_check_interval_ms = stray_check_interval_ms
        self.ack_batch = ack_batch
        self.ack_flush_ms = ack_flush_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._next_heartbeat_ms = 0

    @property
    def consumer_class(self) -> Any:
        return _Consumer

    # --- the hot path: wake-ups, batched acks (dramaturg.store.handoff) ---------------------------

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> None:
        """Put a message on a queue (as consumed) and wake an idle consumer, in one script call."""
        if self._should_do_maintenance("enqueue"):
            self.run_maintenance(queue_name)
        handoff.enqueue(self.client, self.namespace, queue_name, message_id, data)

    def do_requeue(self, queue_name: str, *message_ids: str) -> int:
        """Put fetched, unacked messages back on their queue, waking an idle consumer."""
        return handoff.requeue(self.client, self.namespace, self.broker_id, queue_name, list(message_ids))

    def do_ack(self, queue_name: str, *message_ids: str) -> int:
        """Ack any number of messages in one call; records the heartbeat at most once a second."""
        return handoff.ack_many(
            self.client, self.namespace, self.broker_id, queue_name, list(message_ids), self._take_heartbeat()
        )

    def nack_and_file(self, queue_name: str, redis_id: str, dead_letter: Message) -> bool:
        """Dead-letter a fetched message and file its details (`dead_letter`: the message with its
        reason and traceback) in one script call, as Dramatiq's nack and `record_dead_letter` would
        in two; records the heartbeat at most once a second, as acks do. False when nothing was filed:
        the message was no longer held, or its description does not encode (then nacked as Dramatiq does)."""
        try:
            body, data = dead_letter.encode(), dead_letter.asdict()
        except Exception:
            logger.exception("Dead letter %s not filed with its nack: it does not encode", redis_id)
            self.do_nack(queue_name, redis_id)
            return False
        return dead_letters.nack_and_record(self.broker_id, queue_name, redis_id, body, data, self._take_heartbeat())

    def heartbeat_due(self) -> bool:
        return current_millis() >= self._next_heartbeat_ms

    def _take_heartbeat(self) -> int | None:
        now = current_millis()
        if now < self._next_heartbeat_ms:
            return None
        self._next_heartbeat_ms = now + self.heartbeat_interval_ms
        return now

    def idle_wait_seconds(self, worker_timeout_ms: int) -> float:
        """How long an idle consumer blocks on its wake list: the worker timeout (so shutdown is never
        held longer), kept under the connection's socket timeout (or the BLPOP would time out)."""
        wait = worker_timeout_ms / 1000
        socket_timeout = self.client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout:
            wait = min(wait, float(socket_timeout) / 2)
        return max(wait, 0.01)

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue, and add it to the registry the dashboard lists queues from."""
        new = queue_name not in self.queues
        super().declare_queue(queue_name)
        if new:
            queues.register_queue(self, queue_name)

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """Enqueue a message. A delayed message a worker held until due (marked by
        dramaturg.middleware.delayed.HeldDelayedMessages) goes to its queue only if it is still
        delayed: an operator may have retried it already or killed it (dramaturg.store.delayed)."""
        held = message.options.get(HELD_DELAYED)
        if held is None or delay is not None:
            return super().enqueue(message, delay=delay)
        options = {k: v for k, v in message.options.items() if k != HELD_DELAYED}
        options.update(redis_message_id=str(uuid4()), ready_at=current_millis())
        message = replace(message, options=options)
        self.emit_before("enqueue", message, None)
        if not delayed.promote(self.client, message.queue_name, held, options["redis_message_id"], message.encode()):
            logger.info(
                "Delayed message %s was retried or killed by an operator before it was due; not enqueued again",
                message.message_id,
            )
            return message
        self.emit_after("enqueue", message, None)
        return message

    def run_maintenance(self, queue_name: str) -> None:
        """Run the broker's maintenance for one queue now, not by chance: the unacked
        messages of workers silent for `heartbeat_timeout` go back to the queue, dead
        letters older than `dead_message_ttl` are deleted (Dramatiq's dispatch script;
        "maintenance" is no command of its own, so nothing else happens)."""
        pipe = self.client.pipeline(transaction=False)
        self.scripts["dispatch"](
            args=[
                "maintenance",
                current_millis(),
                queue_name,
                self.broker_id,
                self.heartbeat_timeout,
                self.dead_message_ttl,
                1,
                self._max_unpack_size(),
            ],
            keys=[self.namespace],
            client=pipe,
        )
        handoff.wake_if_ready(self.client, self.namespace, queue_name, pipe)  # what came back wakes a consumer
        pipe.execute()

    def enqueue_many(self, messages: Iterable[Message]) -> list[Message]:
        """Enqueue many messages in one round trip (a pipeline of the broker's own
        enqueue script, each with its wake-up token), with the same middleware hooks as `enqueue`."""
        pipe = self.client.pipeline(transaction=False)
        enqueued = []
        for message in messages:
            message = message.copy(options={"redis_message_id": str(uuid4())})
            self.emit_before("enqueue", message, None)
            handoff.enqueue(
                self.client,
                self.namespace,
                message.queue_name,
                message.options["redis_message_id"],
                message.encode(),
                pipe,
            )
            enqueued.append(message)
        if enqueued:
            pipe.execute()
        for message in enqueued:
            self.emit_after("enqueue", message, None)
        return enqueued
