"""Where the messages of one piece of work stand: find them by an argument they were sent with.

Public API: `find` and `MessageState`. Reads only; a bounded scan of the queue's ready, delayed
and dead messages (enough for a workflow's run id, not an index).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dramatiq.common import q_name

from . import conf
from .store import keys, stats
from .store.connection import client
from .store.lookup import running_message_ids
from .store.messages import decode

SCAN_LIMIT = 20_000  # entries looked at per set (ready, delayed, dead)


@dataclass(frozen=True)
class MessageState:
    """One message of a queue and where it is now.

    `state` is "running" (fetched by a live worker, which is `worker` since `started_ms`), "ready"
    (waiting in its queue, or fetched and not yet started), "delayed" (an ETA), "retrying" (waiting
    for its next attempt at `due_ms`) or "dead" (`dead_reason`, dead since `dead_at_ms`).
    """

    message_id: str
    redis_id: str
    queue_name: str
    actor_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    state: str
    retries: int = 0
    due_ms: int | None = None
    worker: str = ""
    started_ms: int | None = None
    dead_reason: str = ""
    dead_at_ms: int | None = None
    options: dict[str, Any] = field(default_factory=dict, repr=False)


def _scan(key: str, needle: bytes, scan_limit: int) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for n, (redis_id, raw) in enumerate(client().hscan_iter(key, count=1000)):
        if n >= scan_limit:
            break
        if needle in raw and (data := decode(raw)) is not None:
            found.append((redis_id.decode(), data))
    return found


def find(queue: str, argument: Any, *, scan_limit: int = SCAN_LIMIT) -> list[MessageState]:
    """The ready, running, delayed, retrying and dead messages of `queue` that were sent with
    `argument` among their positional arguments (compared exactly, after a JSON round trip: pass
    a str for a UUID). Finished messages are not listed: the work's own records say what is done."""
    queue = q_name(queue)
    needle = json.dumps(argument).encode()
    heartbeat_timeout_ms = conf.heartbeat_timeout_ms()
    alive = [w.worker_id for w in stats.workers(heartbeat_timeout_ms) if w.alive]
    running = running_message_ids(alive)
    result = []
    for key, delayed in ((keys.messages_key(queue), False), (keys.delayed_messages_key(queue), True)):
        for redis_id, data in _scan(key, needle, scan_limit):
            if argument not in (data.get("args") or []):
                continue
            options = data.get("options") or {}
            job = None if delayed else running.get(data.get("message_id", ""))
            state = "running" if job else "ready"
            if delayed:
                state = "retrying" if options.get("retries") else "delayed"
            result.append(_state(redis_id, queue, data, state, job or {}))
    dead = [
        (i, d) for i, d in _scan(keys.dead_messages_key(queue), needle, scan_limit) if argument in (d.get("args") or [])
    ]
    pipe = client().pipeline(transaction=False)
    for redis_id, _ in dead:
        pipe.zscore(keys.dead_key(queue), redis_id)
    for (redis_id, data), score in zip(dead, pipe.execute() if dead else [], strict=True):
        result.append(_state(redis_id, queue, data, "dead", {}, dead_at_ms=int(score) if score is not None else None))
    return result


def _state(
    redis_id: str, queue: str, data: dict[str, Any], state: str, job: dict[str, Any], dead_at_ms: int | None = None
) -> MessageState:
    options = data.get("options") or {}
    return MessageState(
        message_id=data.get("message_id", ""),
        redis_id=redis_id,
        queue_name=queue,
        actor_name=data.get("actor_name", ""),
        args=data.get("args") or [],
        kwargs=data.get("kwargs") or {},
        state=state,
        retries=options.get("retries", 0),
        due_ms=options.get("eta"),
        worker=job.get("worker", ""),
        started_ms=job.get("started_ms"),
        dead_reason=options.get("dead_letter_reason", "") if state == "dead" else "",
        dead_at_ms=dead_at_ms,
        options=options,
    )
