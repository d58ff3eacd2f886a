"""Each failed attempt of a message, for its detail page: when, on which worker, and its error (one line,
masked). Written by workers with their once-a-second statistics publish (dramaturg.middleware.stats),
only for attempts that raised; a success shows in the record of finished messages (store.recent).

One list per message, `attempts:<message id>`, the newest MAX_ATTEMPTS kept, expiring `ttl_s` after its
last failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis

from . import keys
from .connection import client, script

MAX_ATTEMPTS = 50
FIELDS = ("retries", "at_ms", "error", "worker")


def add_to_pipeline(
    pipe: redis.client.Pipeline, failures: Sequence[tuple[str, int, int, str]], worker: str, ttl_s: int
) -> None:
    """Queue on `pipe` the record of failed attempts: (message id, its retries before it, when it
    ended (ms), its error line) each."""
    if not failures:
        return
    script("record_attempts")(
        keys=[keys.attempts_key(message_id) for message_id, *_ in failures],
        args=[
            MAX_ATTEMPTS,
            max(ttl_s, 1),
            *(
                json.dumps([retries, at_ms, error, worker], separators=(",", ":"))
                for _, retries, at_ms, error in failures
            ),
        ],
        client=pipe,
    )


def failed_attempts(message_id: str) -> list[dict[str, Any]]:
    """The failed attempts of `message_id` still on record, oldest first: retries, at_ms, error, worker."""
    return [
        dict(zip(FIELDS, json.loads(raw), strict=False))
        for raw in client().lrange(keys.attempts_key(message_id), 0, -1)
    ]
