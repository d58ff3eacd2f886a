"""Queues: the registry of known queues, their counts, and pages of ready and delayed messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from dramatiq.common import q_name

from . import keys
from .connection import client, run_readonly, script, text
from .messages import StoredMessage, decode

logger = logging.getLogger(__name__)

# Called by an operator's action with the decoded bodies it is about to take, before Redis changes: what they
# owed is settled first (dramaturg.actions), so an error there leaves the messages where they are.
type Before = Callable[[list[dict[str, Any]]], None]

READY_SCAN_CHUNK = 500
OLDEST_READY_DEPTH = 5  # ready ids looked at per queue for the oldest one (the front; requeues go there too)


@dataclass(frozen=True)
class QueueCounts:
    name: str
    ready: int
    delayed: int
    in_progress: int
    dead: int


@dataclass(frozen=True)
class ReadyPage:
    messages: list[StoredMessage]
    has_next: bool
    scanned: int  # ready messages looked at to filter by actor (0: no filter)


def register_queue(broker: dramatiq.Broker, queue: str) -> None:
    """Add `queue` to the registry the dashboard lists queues from (called when a
    queue is declared). Best effort: a process that starts while Redis is down
    still starts, and every running worker registers its queues again with its
    statistics each second (`stats.publish_worker_stats`)."""
    try:
        broker.client.sadd(keys.queues_key(broker.namespace), q_name(queue))  # type: ignore[attr-defined]
    except redis.RedisError as error:
        logger.debug("Queue %r not registered now (%s); workers register it again", queue, error)


def queue_names() -> list[str]:
    """Every known queue: the registry (queues declared by any process) and the
    queues declared in this process. One SMEMBERS; never a keyspace scan."""
    names = {q_name(q) for q in dramatiq.get_broker().get_declared_queues()}
    names.update(q_name(text(n)) for n in client().smembers(keys.queues_key()))
    return sorted(names)


def queue_counts(queue: str) -> QueueCounts:
    """Ready, delayed, in-flight and dead counts of one queue."""
    return all_queue_counts([queue])[0]


def all_queue_counts(queues: Iterable[str] | None = None) -> list[QueueCounts]:
    """Ready, delayed, in-flight and dead counts of each queue (default: every known one), in one round trip."""
    return [counts for counts, _ in queue_figures(queues, oldest_depth=0)]


def queue_figures(
    queues: Iterable[str] | None = None, *, oldest_depth: int = OLDEST_READY_DEPTH
) -> list[tuple[QueueCounts, int | None]]:
    """Counts of each queue and when its longest-waiting ready message became ready (epoch ms, None:
    no ready message; among the first `oldest_depth` ids of its list, 0: not asked). One read-only
    script call for every queue; bodies never leave Redis."""
    names = [q_name(q) for q in (queues if queues is not None else queue_names())]
    if not names:
        return []
    queue_keys = [
        key
        for name in names
        for key in (keys.queue_key(name), keys.messages_key(name), keys.delayed_messages_key(name), keys.dead_key(name))
    ]
    values = run_readonly("queue_stats", queue_keys, [oldest_depth])
    result = []
    for i, name in enumerate(names):
        ready, stored, delayed, dead, oldest = values[5 * i : 5 * i + 5]
        # A message stays in the hash until acked: stored but not listed is in flight.
        result.append((QueueCounts(name, ready, delayed, max(stored - ready, 0), dead), int(oldest) or None))
    return result


def page_ready(queue: str, *, offset: int = 0, limit: int = 50) -> list[StoredMessage]:
    """Ready messages in the order workers will take them."""
    conn = client()
    ids = [text(i) for i in conn.lrange(keys.queue_key(queue), offset, offset + limit - 1)]
    bodies = conn.hmget(keys.messages_key(queue), ids) if ids else []
    return [
        StoredMessage(i, q_name(queue), data) for i, body in zip(ids, bodies, strict=True) if (data := decode(body))
    ]


def ready_page(queue: str, page: int, *, actor: str = "", page_size: int = 50, scan_limit: int = 10_000) -> ReadyPage:
    """Page `page` (from 0) of the ready messages; with an actor filter, among at most `scan_limit` messages."""
    if not actor:
        items = page_ready(queue, offset=page * page_size, limit=page_size + 1)
        return ReadyPage(items[:page_size], len(items) > page_size, 0)
    matches: list[StoredMessage] = []
    scanned = 0
    while scanned < scan_limit:
        chunk = page_ready(queue, offset=scanned, limit=READY_SCAN_CHUNK)
        if not chunk:
            break
        scanned += READY_SCAN_CHUNK
        matches.extend(m for m in chunk if m.actor_name == actor)
        if len(matches) > (page + 1) * page_size:
            break
    start = page * page_size
    return ReadyPage(matches[start : start + page_size], len(matches) > start + page_size, scanned)


def page_delayed(queue: str, *, cursor: int = 0, limit: int = 50) -> tuple[list[StoredMessage], int]:
    """Delayed messages (retries waiting for their backoff); returns (page, next cursor or 0)."""
    next_cursor, items = client().hscan(keys.delayed_messages_key(queue), cursor=cursor, count=limit)
    assert isinstance(items, dict)  # HSCAN without NOVALUES: field -> value
    messages = [StoredMessage(text(k), q_name(queue), data) for k, v in items.items() if (data := decode(v))]
    return sorted(messages, key=lambda m: m.eta_ms or 0), int(next_cursor)


def find_message(queue: str, message_id: str, *, scan_limit: int = 20_000) -> tuple[str, StoredMessage] | None:
    """Find a message by its redis id or its Dramatiq message id.

    Returns (state, message) with state 'ready/in progress', 'delayed' or 'dead'.
    Lookup by redis id is O(1); by message id it scans at most `scan_limit` entries.
    """
    places = (
        ("ready/in progress", keys.messages_key(queue)),
        ("delayed", keys.delayed_messages_key(queue)),
        ("dead", keys.dead_messages_key(queue)),
    )
    conn = client()
    for state, key in places:
        body = conn.hget(key, message_id)
        if body is not None and (data := decode(body)):
            return state, StoredMessage(message_id, q_name(queue), data)
    needle = f'"message_id":"{message_id}"'.encode()
    for state, key in places:
        for n, (redis_id, body) in enumerate(conn.hscan_iter(key, count=1000)):
            if n >= scan_limit:
                break
            if needle in body.replace(b" ", b"") and (data := decode(body)):
                return state, StoredMessage(redis_id.decode(), q_name(queue), data)
    return None


# --- the operator's actions ------------------------------------------------------

CLEAR_BATCH = 500


def delete_ready(refs: Iterable[tuple[str, str]], before: Before | None = None) -> list[dict[str, Any]]:
    """Delete ready messages, given as (queue, redis id): each only while still in its queue's list
    (one a worker fetched already is running and stays). `before` is called with the decoded bodies of
    those about to be deleted, before Redis changes. Returns the decoded bodies of those deleted."""
    by_queue: dict[str, list[str]] = {}
    for queue, redis_id in refs:
        by_queue.setdefault(q_name(queue), []).append(redis_id)
    conn = client()
    deleted: list[dict[str, Any]] = []
    for queue, ids in by_queue.items():
        deleted.extend(_delete_ready(conn, queue, ids, before))
    return deleted


def _delete_ready(conn: redis.Redis, queue: str, ids: list[str], before: Before | None) -> list[dict[str, Any]]:
    bodies = conn.hmget(keys.messages_key(queue), ids)
    found = [(i, data) for i, body in zip(ids, bodies, strict=True) if (data := decode(body)) is not None]
    if before:
        before([data for _, data in found])
    kept = script("delete_ready", conn)(keys=[keys.queue_key(queue), keys.messages_key(queue)], args=ids)
    return [decode(body) or {} for body in kept]


def clear_ready(
    queue: str, *, batch: int = CLEAR_BATCH, before: Before | None = None, limit: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Drop every ready message of `queue` (or the first `limit` of them), a batch at a time from the front
    (messages running on a worker finish; delayed and dead ones stay). `before` is called with each batch's
    decoded bodies before Redis changes. Yields the decoded bodies of each batch dropped (a worker may have
    taken some of those read first)."""
    conn = client()
    queue = q_name(queue)
    left = limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        ids = [text(i) for i in conn.lrange(keys.queue_key(queue), 0, size - 1)]
        if not ids:
            return
        if left is not None:
            left -= len(ids)
        yield _delete_ready(conn, queue, ids, before)
