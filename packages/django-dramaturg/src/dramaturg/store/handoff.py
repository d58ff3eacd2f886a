"""The broker's own hot path in Redis: enqueue and requeue with a wake-up token, batched acks,
and the idle consumer's wait for a token.

Dramatiq's Redis consumer polls: a job that reaches an idle worker waits for the next poll.
Here every path that puts a message on a queue also pushes a token on that queue's wake list
(`keys.wake_key`, bounded to `WAKE_LIST_CAP`), in the same script call, and an idle consumer
blocks on BLPOP of that list. A list, not pub/sub: a token pushed between a consumer's empty
fetch and its BLPOP is still there, so no wake-up is lost, and each token wakes one consumer.

Functions take the broker's client and namespace explicitly: the broker calling them need not
be the global one (tests run several).
"""

from __future__ import annotations

import redis

from . import keys
from .connection import lua_source, script

# Tokens kept per queue: enough for every idle consumer of a queue to be woken by a burst. Tokens
# left over once the burst is taken cost one empty fetch: that consumer drops the rest (`stale`).
WAKE_LIST_CAP = 16


def enqueue(
    conn: redis.Redis, ns: str, queue: str, redis_id: str, body: bytes, pipe: redis.client.Pipeline | None = None
) -> None:
    """Put a message on `queue` (as consumed: `<q>.DQ` for a delayed one) and wake one idle consumer."""
    script("enqueue", conn)(
        keys=[keys.consumed_queue_key(queue, ns), keys.consumed_messages_key(queue, ns), keys.wake_key(queue, ns)],
        args=[redis_id, body, WAKE_LIST_CAP],
        client=pipe,
    )


def requeue(conn: redis.Redis, ns: str, worker_id: str, queue: str, redis_ids: list[str]) -> int:
    """Put messages this worker fetched and did not ack back on `queue`; returns how many went back."""
    if not redis_ids:
        return 0
    return int(
        script("requeue", conn)(
            keys=[
                keys.acks_key(worker_id, queue, ns),
                keys.consumed_queue_key(queue, ns),
                keys.consumed_messages_key(queue, ns),
                keys.wake_key(queue, ns),
            ],
            args=[WAKE_LIST_CAP, *redis_ids],
        )
    )


def ack_many(
    conn: redis.Redis, ns: str, worker_id: str, queue: str, redis_ids: list[str], heartbeat_ms: int | None
) -> int:
    """Ack a batch of processed messages in one call (and record a heartbeat if `heartbeat_ms`)."""
    return int(
        script("ack_many", conn)(
            keys=[keys.acks_key(worker_id, queue, ns), keys.consumed_messages_key(queue, ns), keys.heartbeats_key(ns)],
            args=[worker_id, "" if heartbeat_ms is None else heartbeat_ms, *redis_ids],
        )
    )


def wake_if_ready(conn: redis.Redis, ns: str, queue: str, pipe: redis.client.Pipeline | None = None) -> None:
    """Wake one idle consumer of `queue` if it holds ready messages."""
    script("wake_if_ready", conn)(
        keys=[keys.consumed_queue_key(queue, ns), keys.wake_key(queue, ns)], args=[WAKE_LIST_CAP], client=pipe
    )


def wait_for_wake(conn: redis.Redis, ns: str, queue: str, timeout_s: float, *, stale: bool = False) -> bool:
    """Block until a wake-up token for `queue` arrives (True) or `timeout_s` passes (False).

    `stale`: the caller was woken and its fetch found the queue empty (another consumer took the burst
    whole). The tokens left are then dropped first, if the queue is still empty, in the same round trip
    (lua/drop_stale_wakes.lua): each would wake another idle consumer for an empty fetch in turn."""
    wake = keys.wake_key(queue, ns)
    if not stale:
        return conn.blpop([wake], timeout=timeout_s) is not None
    pipe = conn.pipeline(transaction=False)
    # EVAL, not a registered script: a pipeline asks SCRIPT EXISTS for those, a round trip of its own.
    pipe.eval(lua_source("drop_stale_wakes"), 2, keys.consumed_queue_key(queue, ns), wake)
    pipe.blpop([wake], timeout=timeout_s)
    return pipe.execute()[-1] is not None
