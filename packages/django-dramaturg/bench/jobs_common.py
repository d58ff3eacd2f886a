"""What every benchmark job does, whatever runs it: count itself, or note its start delay."""

from __future__ import annotations

import os
import time

import redis

_client = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
    return _client


def noop() -> None:
    _redis().incr("bench:done")


def sleep10() -> None:
    time.sleep(0.01)
    _redis().incr("bench:done")


def note_start(enqueued_at: float) -> None:
    _redis().rpush("bench:latency", time.time() - enqueued_at)
