"""Where is message X? Running on a worker, ready, delayed or retrying, dead, or finished recently."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from dramatiq.common import q_name

from . import attempt_log, keys, recent
from .connection import client
from .dead_letters import DeadLetterRef, DeadLetterSummary, find_dead, get_dead
from .messages import StoredMessage, decode

SCAN_LIMIT = 5_000  # entries looked at per hash when the id is a message id (not a redis id)


@dataclass(frozen=True)
class Sighting:
    """One place a message was found."""

    state: str  # 'in progress', 'ready', 'delayed', 'retrying', 'dead' or 'finished'
    queue: str
    message: StoredMessage | None = None
    dead: DeadLetterSummary | None = None
    details: dict[str, Any] = field(default_factory=dict)  # worker and since (in progress); outcome (finished)


def _running(message_id: str, worker_ids: list[str]) -> list[Sighting]:
    if not worker_ids:
        return []
    pipe = client().pipeline(transaction=False)
    for worker_id in worker_ids:
        pipe.hget(keys.running_key(worker_id), message_id)
    found = []
    for worker_id, raw in zip(worker_ids, pipe.execute(), strict=True):
        if raw:
            job = json.loads(raw)
            found.append(Sighting("in progress", job.get("queue", ""), details={**job, "worker": worker_id}))
    return found


def _in_hash(key: str, message_id: str, scan_limit: int) -> tuple[str, dict] | None:
    """(redis id, body) of `message_id` in a message hash: O(1) by redis id, else a bounded scan."""
    conn = client()
    body = conn.hget(key, message_id)
    if body is not None and (data := decode(body)) is not None:
        return message_id, data
    needle = f'"message_id":"{message_id}"'.encode()
    for n, (redis_id, raw) in enumerate(conn.hscan_iter(key, count=1000)):
        if n >= scan_limit:
            break
        if needle in raw.replace(b" ", b"") and (data := decode(raw)) is not None:
            return redis_id.decode(), data
    return None


def locate(
    message_id: str,
    queues: Iterable[str],
    worker_ids: Iterable[str],
    *,
    scan_limit: int = SCAN_LIMIT,
    recent_max_age_ms: int = 86_400_000,
) -> list[Sighting]:
    """Every place `message_id` (a Dramatiq message id, or a redis id) is known: running on a
    worker (which, since when), ready, delayed or retrying (due when), dead, and how it ended if it
    finished recently. O(1) look-ups, and scans of at most `scan_limit` entries per hash."""
    message_id = message_id.strip()
    if not message_id or len(message_id) > 200:
        return []
    found = _running(message_id, list(worker_ids))
    done = recent.finished(message_id, max_age_ms=recent_max_age_ms)
    # A message that ran lately can only be queued, retrying or dead on its own queue: scan that one only.
    names = [q_name(done["queue"])] if done and done.get("queue") else [q_name(q) for q in queues]
    running = {s.details.get("message_id"): n for n, s in enumerate(found)}
    for queue in names:
        hit = _in_hash(keys.messages_key(queue), message_id, scan_limit)
        if hit:
            message = StoredMessage(hit[0], queue, hit[1])
            if message.message_id in running:  # its body, for the running job's detail page
                found[running[message.message_id]] = replace(found[running[message.message_id]], message=message)
            else:
                found.append(Sighting("ready", queue, message))
        hit = _in_hash(keys.delayed_messages_key(queue), message_id, scan_limit)
        if hit:
            message = StoredMessage(hit[0], queue, hit[1])
            found.append(Sighting("retrying" if message.retries else "delayed", queue, message))
    found.extend(
        Sighting("dead", letter.queue_name, dead=letter)
        for letter in find_dead(message_id, names, scan_limit=scan_limit)
    )
    if done:
        found.append(Sighting("finished", done.get("queue", ""), details=done))
    return found


def running_message_ids(worker_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Message id -> {worker, started_ms, ...} of every job running on the given workers."""
    ids = list(worker_ids)
    pipe = client().pipeline(transaction=False)
    for worker_id in ids:
        pipe.hgetall(keys.running_key(worker_id))
    result = {}
    for worker_id, jobs in zip(ids, pipe.execute() if ids else [], strict=True):
        for message_id, raw in jobs.items():
            result[message_id.decode()] = {**json.loads(raw), "worker": worker_id}
    return result


@dataclass(frozen=True)
class MessageDetail:
    """Everything known of one message, for its detail page."""

    message_id: str
    sightings: list[Sighting]
    message: StoredMessage | None  # its whole body, from the first place that holds one
    failed_attempts: list[dict[str, Any]]  # store.attempt_log: retries, at_ms, error, worker

    @property
    def state(self) -> str:
        """Where it is now: the first sighting's state ('' when unknown)."""
        return self.sightings[0].state if self.sightings else ""


def detail(message_id: str, queues: Iterable[str], worker_ids: Iterable[str], **locate_options: Any) -> MessageDetail:
    """`locate` the message, read its whole body (a dead letter's too) and its failed attempts."""
    sightings = locate(message_id, queues, worker_ids, **locate_options)
    message = next((s.message for s in sightings if s.message is not None), None)
    if message is None:
        for s in sightings:
            if s.dead is not None and (message := get_dead(DeadLetterRef(s.dead.queue_name, s.dead.redis_id))):
                break
    known_id = message.message_id if message is not None else message_id.strip()
    return MessageDetail(known_id, sightings, message, attempt_log.failed_attempts(known_id) if known_id else [])
