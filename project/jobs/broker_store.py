"""The one place that knows how the Dramatiq Redis broker lays out its keys.

Key layout (see dramatiq/brokers/redis/dispatch.lua):
  <ns>:<queue>                 list of redis message ids, ready to fetch
  <ns>:<queue>.msgs            hash id -> encoded message (ready + in flight)
  <ns>:<queue>.DQ / .DQ.msgs   the same for delayed messages (retries, ETAs)
  <ns>:<queue>.XQ              zset of dead-lettered ids by time of death
  <ns>:<queue>.XQ.msgs         hash id -> encoded message
  <ns>:__acks__.<worker>.<q>   set of ids a worker fetched and has not acked
  <ns>:__heartbeats__          zset worker id -> last heartbeat (ms)

Views, admin pages, commands and middleware read and write through the
functions here; nothing else builds these key names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import dramatiq
import redis
from dramatiq.common import q_name

# Writes the enriched copy only while the message is still dead-lettered, so a
# concurrent requeue or delete by an operator is never undone.
_UPDATE_IF_PRESENT = """
if redis.call('hexists', KEYS[1], ARGV[1]) == 1 then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def _broker() -> dramatiq.Broker:
    return dramatiq.get_broker()


def client() -> redis.Redis:
    """The broker's own Redis client (and connection pool)."""
    return _broker().client


def namespace() -> str:
    return _broker().namespace


def queue_key(queue: str) -> str:
    return f"{namespace()}:{q_name(queue)}"


def messages_key(queue: str) -> str:
    return f"{queue_key(queue)}.msgs"


def delayed_key(queue: str) -> str:
    return f"{queue_key(queue)}.DQ"


def dead_key(queue: str) -> str:
    return f"{queue_key(queue)}.XQ"


def dead_messages_key(queue: str) -> str:
    return f"{dead_key(queue)}.msgs"


@dataclass(frozen=True)
class DeadMessage:
    """A dead-lettered message as stored in Redis."""

    redis_id: str
    queue_name: str
    dead_at_ms: int
    data: dict[str, Any] = field(repr=False)

    @property
    def message_id(self) -> str:
        return self.data.get("message_id", "")

    @property
    def actor_name(self) -> str:
        return self.data.get("actor_name", "")

    @property
    def options(self) -> dict[str, Any]:
        return self.data.get("options") or {}

    @property
    def traceback(self) -> str:
        return self.options.get("traceback", "")

    @property
    def reason(self) -> str:
        return self.options.get("dead_letter_reason", "")


@dataclass(frozen=True)
class QueueCounts:
    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int


def queue_counts(queue: str) -> QueueCounts:
    """Ready, delayed, in-flight and dead counts of one queue in one round trip."""
    pipe = client().pipeline(transaction=False)
    pipe.llen(queue_key(queue))
    pipe.hlen(messages_key(queue))
    pipe.hlen(f"{delayed_key(queue)}.msgs")
    pipe.zcard(dead_key(queue))
    ready, stored, delayed, dead = pipe.execute()
    # A message stays in the hash until acked: stored but not listed is in flight.
    return QueueCounts(q_name(queue), ready, delayed, max(stored - ready, 0), dead)


def save_dead_letter_details(queue: str, redis_id: str, encoded: bytes) -> bool:
    """Replace a dead-lettered message's stored body (to keep its traceback and reason)."""
    return bool(client().eval(_UPDATE_IF_PRESENT, 1, dead_messages_key(queue), redis_id, encoded))


def count_dead(queue: str) -> int:
    return client().zcard(dead_key(queue))


def list_dead(queue: str, *, offset: int = 0, limit: int = 50) -> list[DeadMessage]:
    """Dead-lettered messages of a queue, newest first; costs O(limit)."""
    conn = client()
    pairs = conn.zrevrange(dead_key(queue), offset, offset + limit - 1, withscores=True)
    if not pairs:
        return []
    bodies = conn.hmget(dead_messages_key(queue), [redis_id for redis_id, _ in pairs])
    return [
        DeadMessage(redis_id.decode(), q_name(queue), int(score), json.loads(body))
        for (redis_id, score), body in zip(pairs, bodies)
        if body is not None
    ]


def get_dead(queue: str, redis_id: str) -> Optional[DeadMessage]:
    conn = client()
    score = conn.zscore(dead_key(queue), redis_id)
    body = conn.hget(dead_messages_key(queue), redis_id)
    if score is None or body is None:
        return None
    return DeadMessage(redis_id, q_name(queue), int(score), json.loads(body))
