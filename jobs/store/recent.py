"""A bounded record of recently finished messages (outcome, duration, worker), for look-up by id.

Written by workers with their once-a-second statistics publish (jobs.middleware.stats.JobStats),
one script call per publish; keeps the newest `limit` and nothing older than `max_age_ms`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

from jobs.timeutil import now_ms

from . import keys
from .connection import client, script


def add_to_pipeline(pipe: redis.client.Pipeline, finished: Sequence[dict[str, Any]], *, limit: int,
                    max_age_ms: int) -> None:
    """Queue on `pipe` the record of `finished` messages (dicts with message_id and finished_ms)."""
    if not finished:
        return
    args: list[Any] = [limit, now_ms() - max_age_ms]
    for entry in finished:
        args += [entry["message_id"], entry["finished_ms"], json.dumps(entry, separators=(",", ":"))]
    script("record_recent")(keys=[keys.recent_key(), keys.recent_data_key()], args=args, client=pipe)


def finished(message_id: str) -> dict[str, Any] | None:
    """How `message_id` ended, if it finished recently: outcome, duration_ms, finished_ms, worker, ..."""
    raw = client().hget(keys.recent_data_key(), message_id)
    return json.loads(raw) if raw else None


def count() -> int:
    return client().zcard(keys.recent_key())
