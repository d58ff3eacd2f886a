"""A bounded record of recently finished messages (outcome, duration, worker), for look-up by id.

Written by workers with their once-a-second statistics publish (dramaturg.middleware.stats.JobStats):
one script call per publish and one hash write per slot inside it, nothing per job. The record is
a ring of SLOTS hashes: when the current one holds `limit / (SLOTS - 1)` entries, the oldest is
emptied and becomes current, so it keeps at least the newest `limit` (at most a ninth more);
entries older than the maximum age are expired with their slot, and never shown. An entry is a
hash field, the message id, whose value is a JSON array of the other FIELDS (smaller and faster
to write than an object). A busy worker writes thousands a second, so values are put together
from pieces rather than encoded one by one, and sent end to end in one script argument.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import redis

from dramaturg.timeutil import now_ms

from . import keys
from .connection import client, script

SLOTS = 10
FIELDS = (
    "message_id",
    "actor",
    "queue",
    "outcome",
    "retries",
    "started_ms",
    "finished_ms",
    "duration_ms",
    "worker",
    "host",
    "pid",
    "error",  # a failed attempt's error, one masked line ("" when it did not fail)
)
DONE, RETRIED, DEAD = "done", "failed, retry enqueued", "dead"
_json = json.JSONEncoder(separators=(",", ":")).encode


def add_to_pipeline(
    pipe: redis.client.Pipeline,
    finished: Sequence[Sequence[Any]],
    *,
    worker: Sequence[Any],
    limit: int,
    max_age_ms: int,
) -> None:
    """Queue on `pipe` the record of `finished` messages: each the first 8 FIELDS (message id ...
    duration; retries and the times in ms integers), then, for a failed attempt, its error;
    `worker` the 3 after them (worker id, host, pid), the same for all."""
    if not finished or limit <= 0:
        return
    tail = "," + _json(list(worker))[1:]
    heads: dict[tuple[str, str, str], str] = {}  # (actor, queue, outcome) -> its JSON, the array left open
    pieces: list[str] = []  # id, value, id, value, ...
    for message_id, actor, queue, outcome, retries, started_ms, finished_ms, duration_ms, *error in finished:
        head = heads.get((actor, queue, outcome))
        if head is None:
            head = heads[actor, queue, outcome] = _json([actor, queue, outcome])[:-1]
        value = "%s,%d,%d,%d,%.1f%s" % (head, retries, started_ms, finished_ms, duration_ms, tail)  # noqa: UP031  # faster than an f-string
        if error:  # rare: only a failed attempt's record carries one, after the worker's fields
            value = f"{value[:-1]},{_json(error[0])}]"
        pieces += (message_id, value)
    joined = "".join(pieces)
    sizes = map(len, pieces) if joined.isascii() else (len(p.encode()) for p in pieces)  # UTF-8 bytes
    script("record_recent")(
        keys=[keys.recent_meta_key(), keys.recent_slot_prefix()],
        args=[math.ceil(limit / (SLOTS - 1)), SLOTS, max(max_age_ms // 1000, 1), joined, ",".join(map(str, sizes))],
        client=pipe,
    )


def finished(message_id: str, *, max_age_ms: int = 86_400_000) -> dict[str, Any] | None:
    """How `message_id` ended, if it finished recently (the latest end if it ran more than once):
    a dict of FIELDS (outcome, duration_ms, finished_ms, worker, host, pid, ...)."""
    pipe = client().pipeline(transaction=False)
    for slot in range(SLOTS):
        pipe.hget(keys.recent_slot_key(slot), message_id)
    oldest = now_ms() - max_age_ms
    ends = [
        end for raw in pipe.execute() if raw and (end := entry(message_id, json.loads(raw)))["finished_ms"] >= oldest
    ]
    return max(ends, key=lambda e: e["finished_ms"]) if ends else None


def entry(message_id: str, values: list[Any]) -> dict[str, Any]:
    """A stored record (the JSON array of a slot's field `message_id`) as a dict of FIELDS."""
    # An entry written before the id was left out of the value (until it expires) starts with the id.
    entry = dict(zip(FIELDS, values if values[:1] == [message_id] else [message_id, *values], strict=False))
    entry.setdefault("error", "")
    return entry


def count() -> int:
    """Entries held (some may be past the maximum age until their slot expires or is reused)."""
    pipe = client().pipeline(transaction=False)
    for slot in range(SLOTS):
        pipe.hlen(keys.recent_slot_key(slot))
    return sum(pipe.execute())
