"""Rate limits shared by every process through Redis (Dramatiq's rate limiters)."""
from __future__ import annotations

import logging
import time

from dramatiq.rate_limits import WindowRateLimiter

from .store import rate_limits

logger = logging.getLogger(__name__)


def window_limiter(name: str, limit: int, window_s: int = 1) -> WindowRateLimiter:
    """At most `limit` acquisitions in any `window_s` seconds, across all processes."""
    return WindowRateLimiter(rate_limits.rate_limiter_backend(), rate_limits.rate_limit_key(name),
                             limit=limit, window=window_s)


def try_acquire(limiter: WindowRateLimiter) -> bool:
    # acquire() is a context manager; a window limiter has nothing to release afterwards.
    with limiter.acquire(raise_on_failure=False) as acquired:
        return acquired


def acquire_within(limiter: WindowRateLimiter, timeout_s: float, poll_s: float = 0.05) -> bool:
    """Wait up to `timeout_s` for a slot: a short burst waits in place instead of using up retries."""
    deadline = time.monotonic() + timeout_s
    while not try_acquire(limiter):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def allow(name: str, limit: int, window_s: int) -> bool:
    """At most `limit` per fixed window of `window_s` seconds (a request-path check: one
    round trip); fails open (True) when Redis is unreachable, with a warning."""
    try:
        return rate_limits.count_hit(name, window_s) <= limit
    except Exception as error:
        logger.warning("Rate limit %s not checked (%s); allowing", name, error)
        return True
