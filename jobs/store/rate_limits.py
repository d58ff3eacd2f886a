"""Rate-limit state on the broker's Redis: the sliding-window log and Dramatiq's limiter backend.

`jobs.limits` holds the policy (fail open, verdicts); this module holds the keys and the script.
"""

from __future__ import annotations

from dramatiq.rate_limits.backends import RedisBackend

from .connection import client, script
from .keys import rate_limit_key

__all__ = ["rate_limit_key", "rate_limiter_backend", "sliding_window_hit"]


def rate_limiter_backend() -> RedisBackend:
    """Dramatiq's Redis rate-limiter backend on the broker's own connection pool."""
    return RedisBackend(client=client())


def sliding_window_hit(name: str, limit: int, window_ms: int, now_ms: int, member: str) -> tuple[bool, int]:
    """Log one hit of `name` at `now_ms` if fewer than `limit` hits were logged in the last
    `window_ms`; returns (allowed, ms until a slot frees). One round trip (lua/sliding_window.lua)."""
    conn = client()
    allowed, wait_ms = script("sliding_window", conn)(
        keys=[rate_limit_key(f"sliding:{name}")], args=[now_ms, window_ms, limit, member], client=conn
    )
    return bool(allowed), int(wait_ms)
