"""Delayed messages: retries waiting for their time (the Retries tab), an operator's "retry now"
and "kill", and the guarded promotion of a delayed message a worker held until due.

Dramatiq keeps a delayed message in `<queue>.DQ.msgs`; a worker fetches it early and holds
it in memory until its eta, then enqueues it on its queue. Both the operator's action
(`take`) and that promotion (`promote`) remove the message from `<queue>.DQ.msgs` in one
script, and do nothing if it is gone: whichever comes first wins, and a message is never
both retried by an operator and promoted by a worker (or killed and then run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from dramatiq.common import q_name

from dramaturg.params import MAX_PAGE, MAX_REDIS_CURSOR, is_natural, natural
from dramaturg.timeutil import now_ms

from . import keys
from .connection import client, script, text
from .dead_letters import DeadLetterRef, preview_of
from .filters import EVERYTHING, MessageFilter
from .handoff import WAKE_LIST_CAP
from .messages import StoredMessage, decode
from .queues import Before, queue_names

KILLED = "KilledByOperator"
KILLED_REASON = "killed by an operator"
TAKE_BATCH = 50
RETRY = "retry"
KILL = "kill"
DELETE = "delete"

# The option naming the delay-queue id of a delayed message a worker holds in memory until due
# (set by dramaturg.middleware.delayed, read by dramaturg.broker; never stored with the message).
HELD_DELAYED = "jobs_held_delayed"

MessageRef = DeadLetterRef  # '<queue>/<redis id>', parsed and checked the same way


@dataclass(frozen=True)
class RetryPage:
    messages: list[StoredMessage]
    next_cursor: str  # '' on the last page
    scanned: int


def _encode(queue_index: int, hscan_cursor: int) -> str:
    return f"{queue_index}.{hscan_cursor}"


def _decode(cursor: str | None) -> tuple[int, int]:
    first, _, second = (cursor or "").partition(".")
    if not (is_natural(first) and is_natural(second)):
        return 0, 0  # malformed: the first page
    return natural(first, maximum=MAX_PAGE), natural(second, maximum=MAX_REDIS_CURSOR)


def _queues(filter: MessageFilter) -> list[str]:
    return [filter.queue] if filter.queue else queue_names()


def page_retries(
    filter: MessageFilter = EVERYTHING, *, cursor: str | None = None, limit: int = 50, scan_budget: int = 5_000
) -> RetryPage:
    """Delayed messages with retries > 0, queue by queue (HSCAN of each delay queue's hash, so a
    page costs at most `scan_budget` entries looked at, whatever the total); soonest due first
    within the page."""
    names = _queues(filter)
    queue_index, hscan_cursor = _decode(cursor)
    conn = client()
    found: list[StoredMessage] = []
    scanned = 0
    while queue_index < len(names) and len(found) < limit and scanned < scan_budget:
        queue = names[queue_index]
        hscan_cursor, items = conn.hscan(keys.delayed_messages_key(queue), cursor=hscan_cursor, count=limit)
        assert isinstance(items, dict)  # HSCAN without NOVALUES: field -> value
        scanned += len(items)
        for redis_id, body in items.items():
            data = decode(body)
            if data is not None:
                message = StoredMessage(text(redis_id), q_name(queue), data)
                if filter.matches_retry(message):
                    found.append(message)
        if not hscan_cursor:
            queue_index += 1
    next_cursor = _encode(queue_index, hscan_cursor) if queue_index < len(names) else ""
    return RetryPage(sorted(found, key=lambda m: m.eta_ms or 0), next_cursor, scanned)


def delayed_total(filter: MessageFilter = EVERYTHING) -> int:
    """Delayed messages in the filter's queues (retries or not): an upper bound of what matches."""
    pipe = client().pipeline(transaction=False)
    for queue in _queues(filter):
        pipe.hlen(keys.delayed_messages_key(queue))
    return sum(pipe.execute())


def refs_matching(filter: MessageFilter, *, batch: int = 500) -> Iterator[list[MessageRef]]:
    """Every waiting retry that matches, in batches (for 'retry/kill all matching')."""
    cursor: str | None = None
    while True:
        page = page_retries(filter, cursor=cursor, limit=batch, scan_budget=batch * 4)
        if page.messages:
            yield [MessageRef(m.queue_name, m.redis_id) for m in page.messages]
        if not page.next_cursor:
            return
        cursor = page.next_cursor


# --- the operator's actions ------------------------------------------------------


def retried_now_body(data: dict[str, Any], now: int) -> bytes:
    """The body of a delayed message sent to its queue now: no eta (it would be delayed again), retries kept."""
    options = {k: v for k, v in (data.get("options") or {}).items() if k != "eta"}
    options["ready_at"] = now
    options["retried_now_at"] = now
    return json.dumps(
        {**data, "queue_name": q_name(data.get("queue_name", "")), "options": options}, separators=(",", ":")
    ).encode()


def killed_body(data: dict[str, Any], now: int) -> bytes:
    """The body of a delayed message an operator killed: a dead letter with the reason."""
    options = {k: v for k, v in (data.get("options") or {}).items() if k != "eta"}
    options.update(dead_letter_reason=KILLED_REASON, exception_type=KILLED, dead_lettered_at=now)
    return json.dumps(
        {**data, "queue_name": q_name(data.get("queue_name", "")), "options": options}, separators=(",", ":")
    ).encode()


def _take_batch(refs: list[MessageRef], action: str, before: Before | None = None) -> list[dict[str, Any]]:
    conn = client()
    pipe = conn.pipeline(transaction=False)
    for ref in refs:
        pipe.hget(keys.delayed_messages_key(ref.queue), ref.redis_id)
    bodies = pipe.execute()
    take = script("take_delayed", conn)
    now = now_ms()
    pipe = conn.pipeline(transaction=False)
    tried: list[dict[str, Any]] = []
    for ref, raw in zip(refs, bodies, strict=True):
        data = decode(raw)
        if data is None or "undecodable" in data:
            continue  # gone already, or nothing a worker could run (the consumer dead-letters it itself)
        actor = str(data.get("actor_name", ""))
        group = keys.group_field(ref.queue, actor, KILLED)
        if action == RETRY:
            body, preview = retried_now_body(data, now), ""
        elif action == DELETE:
            body, preview = b"", ""
        else:
            body = killed_body(data, now)
            preview = json.dumps(preview_of(json.loads(body), len(body)), separators=(",", ":"))
        take(
            keys=[
                keys.delayed_queue_key(ref.queue),
                keys.delayed_messages_key(ref.queue),
                keys.queue_key(ref.queue),
                keys.messages_key(ref.queue),
                keys.dead_key(ref.queue),
                keys.dead_messages_key(ref.queue),
                keys.groups_key(),
                keys.group_index_key(group),
                keys.totals_key(),
                keys.preview_key(ref.queue),
                keys.wake_key(ref.queue),
            ],
            args=[ref.redis_id, action, body, group, preview, now, WAKE_LIST_CAP],
            client=pipe,
        )
        tried.append(data)
    if before:
        before(tried)
    results = pipe.execute() if len(pipe) else []
    return [data for data, done in zip(tried, results, strict=True) if done]


def take_messages(refs: Iterable[MessageRef], action: str, before: Before | None = None) -> list[dict[str, Any]]:
    """'retry': to the front of its queue now; 'kill': to the dead letters with the reason
    "killed by an operator"; 'delete': dropped. Returns the decoded bodies of the messages this call
    handled (others had left the delay queue). `before` is called with the bodies of each batch about to
    be taken, before Redis changes (an error it raises leaves the batch where it is)."""
    if action not in (RETRY, KILL, DELETE):
        raise ValueError(f"unknown action {action!r}")
    refs = list(refs)
    return [
        data for i in range(0, len(refs), TAKE_BATCH) for data in _take_batch(refs[i : i + TAKE_BATCH], action, before)
    ]


# --- the worker's side ---------------------------------------------------------


def promote(conn: redis.Redis, queue: str, delayed_id: str, new_id: str, body: bytes) -> bool:
    """Move a due delayed message of `queue` to the back of `queue`, unless an operator took it first."""
    return bool(
        script("promote_delayed", conn)(
            keys=[
                keys.delayed_messages_key(queue),
                keys.messages_key(queue),
                keys.queue_key(queue),
                keys.wake_key(queue),
            ],
            args=[delayed_id, new_id, body, WAKE_LIST_CAP],
        )
    )
