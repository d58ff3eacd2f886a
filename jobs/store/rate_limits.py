"""Rate-limit counters on the broker's Redis (jobs.limits builds on these)."""
from __future__ import annotations

import time

from . import keys
from .connection import client
from .keys import rate_limit_key

__all__ = ["count_hit", "rate_limit_key", "rate_limiter_backend"]

_clock = time.time  # replaceable in tests that must not straddle a rate-limit window


def count_hit(name: str, window_s: int) -> int:
    """Count one hit in the current fixed window of `window_s` seconds; returns the window's count.
    One round trip (INCR + EXPIRE in a pipeline): cheap enough for a request path."""
    window = int(_clock() // window_s)
    key = keys.rate_limit_key(f"{name}@{window}")
    pipe = client().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window_s * 2)
    return pipe.execute()[0]


def rate_limiter_backend():
    """Dramatiq's Redis rate-limiter backend on the broker's own connection pool."""
    from dramatiq.rate_limits.backends import RedisBackend

    return RedisBackend(client=client())
