"""Messages a worker fetched but cannot run: moved from its ack set to the dead-letter set.

The broker hands workers bodies without their redis ids, so the id is found among
the worker's own unacked messages of that queue (a handful: its prefetch) by
comparing bodies. Used by `dramaturg.broker`'s consumer.
"""

from __future__ import annotations

import json
from typing import Any

from dramatiq.common import q_name

from dramaturg.timeutil import now_ms

from . import keys
from .connection import client, script, text
from .dead_letters import record_dead_letter

# A decodable message that cannot be run or acked (options not an object, no redis id, ...).
MALFORMED = "MalformedMessage"
# A redis id that was queued with no body in the queue's hash.
MISSING_BODY = "MissingBody"


def unacked_ids(worker_id: str, queue: str) -> list[str]:
    """Redis ids this worker fetched from `queue` (as consumed: 'x' or 'x.DQ') and has not acked."""
    return sorted(text(i) for i in client().smembers(keys.acks_key(worker_id, queue)))


def _envelope(
    queue: str, redis_id: str, raw: bytes | None, data: dict[str, Any] | None, reason: str, exception_type: str
) -> bytes:
    """The dead letter of a message that cannot run: what could be read of it, the reason, and the raw
    body under 'undecodable' (which also keeps it from being requeued as it is).
    A message whose only fault is a missing redis id gets it, so an operator can requeue it."""
    now = now_ms()
    data = data or {}
    options: dict[str, Any] = data["options"] if isinstance(data.get("options"), dict) else {}

    def text(name: str, default: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else default

    timestamp = data.get("message_timestamp")
    envelope: dict[str, Any] = {
        "queue_name": q_name(queue),
        "actor_name": text("actor_name", ""),
        "args": list(data["args"]) if isinstance(data.get("args"), (list, tuple)) else [],
        "kwargs": data["kwargs"] if isinstance(data.get("kwargs"), dict) else {},
        "message_id": text("message_id", redis_id),
        "message_timestamp": timestamp if isinstance(timestamp, int) else now,
        "options": {
            **options,
            "redis_message_id": redis_id,
            "dead_letter_reason": reason[:500],
            "exception_type": exception_type,
            "dead_lettered_at": now,
        },
    }
    missing_id_only = (
        isinstance(data.get("options"), dict)
        and isinstance(data.get("kwargs"), dict)
        and not isinstance(data["options"].get("redis_message_id"), str)
    )
    if raw is None:
        envelope["undecodable"] = "(no body)"
    elif not missing_id_only:
        envelope["undecodable"] = raw[:20_000].decode("utf-8", "backslashreplace")
    return json.dumps(envelope, default=str).encode()


def bury_fetched(
    worker_id: str, queue: str, raw: bytes, data: dict[str, Any] | None, reason: str, exception_type: str
) -> str | None:
    """Dead-letter a message this worker fetched but cannot run; returns its redis id.

    `data` is the decoded message if it decoded, None for a body that did not."""
    conn = client()
    stored = keys.consumed_messages_key(queue)
    ids = list(conn.smembers(keys.acks_key(worker_id, queue)))
    bodies = conn.hmget(stored, ids) if ids else []
    redis_id = next((text(i) for i, body in zip(ids, bodies, strict=True) if body == raw), None)
    if redis_id is None:
        return None
    envelope = _envelope(queue, redis_id, raw, data, reason, exception_type)
    if _bury("bury_fetched", worker_id, queue, redis_id, envelope, json.loads(envelope)["actor_name"], exception_type):
        return redis_id
    return None


def bury_bodiless(worker_id: str, queue: str, reason: str) -> list[str]:
    """Dead-letter the ids this worker fetched from `queue` that have no body; returns them."""
    conn = client()
    stored = keys.consumed_messages_key(queue)
    ids = list(conn.smembers(keys.acks_key(worker_id, queue)))
    bodies = conn.hmget(stored, ids) if ids else []
    buried = []
    for raw_id, body in zip(ids, bodies, strict=True):
        if body is not None:
            continue
        redis_id = text(raw_id)
        envelope = _envelope(queue, redis_id, None, None, reason, MISSING_BODY)
        if _bury("bury_bodiless", worker_id, queue, redis_id, envelope, "", MISSING_BODY):
            buried.append(redis_id)
    return buried


def _bury(
    name: str, worker_id: str, queue: str, redis_id: str, envelope: bytes, actor: str, exception_type: str
) -> bool:
    """Run script `name` (out of the worker's ack set, into the dead letters) and file the letter in its
    group, in one MULTI/EXEC: no reader sees a letter counted but not yet in its group, and a worker that
    dies between the two leaves neither. False if the worker no longer held it: the filing then finds no
    letter (requeued) or one filed already (its group is not counted twice)."""
    conn = client()
    stored = keys.consumed_messages_key(queue)
    bury_keys = [keys.acks_key(worker_id, queue), stored, keys.dead_key(queue), keys.dead_messages_key(queue)]
    pipe = conn.pipeline(transaction=True)
    script(name, conn)(keys=bury_keys, args=[redis_id, envelope, now_ms()], client=pipe)
    record_dead_letter(queue, redis_id, envelope, actor, exception_type, pipe=pipe)
    buried, _ = pipe.execute()
    return bool(buried)
