"""A bounded record of recently finished messages (outcome, duration, worker), for look-up by id.

Written by workers with their once-a-second statistics publish (jobs.middleware.stats.JobStats):
one script call per publish and one hash write per slot inside it, nothing per job. The record is
a ring of SLOTS hashes: when the current one holds `limit / (SLOTS - 1)` entries, the oldest is
emptied and becomes current, so it keeps at least the newest `limit` (at most a ninth more);
entries older than the maximum age are expired with their slot, and never shown. An entry is a
JSON array of FIELDS (smaller and faster to write than an object).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import redis

from jobs.timeutil import now_ms

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
)
DONE, RETRIED, DEAD = "done", "failed, retry enqueued", "dead"


def add_to_pipeline(
    pipe: redis.client.Pipeline,
    finished: Sequence[Sequence[Any]],
    *,
    worker: Sequence[Any],
    limit: int,
    max_age_ms: int,
) -> None:
    """Queue on `pipe` the record of `finished` messages: each the first 8 FIELDS (message id ...
    duration), `worker` the last 3 (worker id, host, pid), the same for all."""
    if not finished or limit <= 0:
        return
    tail = "," + json.dumps(list(worker), separators=(",", ":"))[1:]
    args: list[Any] = [math.ceil(limit / (SLOTS - 1)), SLOTS, max(max_age_ms // 1000, 1)]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for entry in finished:
        args += [entry[0], dumps(entry)[:-1] + tail]
    script("record_recent")(keys=[keys.recent_meta_key(), keys.recent_slot_prefix()], args=args, client=pipe)


def finished(message_id: str, *, max_age_ms: int = 86_400_000) -> dict[str, Any] | None:
    """How `message_id` ended, if it finished recently (the latest end if it ran more than once):
    a dict of FIELDS (outcome, duration_ms, finished_ms, worker, host, pid, ...)."""
    pipe = client().pipeline(transaction=False)
    for slot in range(SLOTS):
        pipe.hget(keys.recent_slot_key(slot), message_id)
    oldest = now_ms() - max_age_ms
    ends = [
        entry
        for raw in pipe.execute()
        if raw and (entry := dict(zip(FIELDS, json.loads(raw), strict=False)))["finished_ms"] >= oldest
    ]
    return max(ends, key=lambda e: e["finished_ms"]) if ends else None


def count() -> int:
    """Entries held (some may be past the maximum age until their slot expires or is reused)."""
    pipe = client().pipeline(transaction=False)
    for slot in range(SLOTS):
        pipe.hlen(keys.recent_slot_key(slot))
    return sum(pipe.execute())
