"""Rate limits shared by every process through Redis.

`sliding_window` guards request paths (one round trip, a Lua script); the
window limiter (Dramatiq's) paces workers, which may wait for a slot.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from functools import cache
from typing import NamedTuple

from django.conf import settings
from dramatiq.rate_limits import WindowRateLimiter

from .store import rate_limits

logger = logging.getLogger(__name__)

_clock = time.time  # the limiter's notion of now; replaceable in tests that must control time


def window_limiter(name: str, limit: int, window_s: int = 1) -> WindowRateLimiter:
    """At most `limit` acquisitions in any `window_s` seconds, across all processes."""
    return WindowRateLimiter(
        rate_limits.rate_limiter_backend(), rate_limits.rate_limit_key(name), limit=limit, window=window_s
    )


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


class Verdict(NamedTuple):
    allowed: bool
    retry_after_s: int  # whole seconds until a slot frees (0 when allowed)


def sliding_window(name: str, limit: int, window_s: int) -> Verdict:
    """Count one hit of `name` if fewer than `limit` were allowed in the last `window_s` seconds.

    One round trip. Fails open (allowed, with a warning) when Redis is unreachable:
    a rate limit must not take the request path down with it.
    """
    now_ms = int(_clock() * 1000)
    try:
        allowed, wait_ms = rate_limits.sliding_window_hit(
            name, limit, window_s * 1000, now_ms, f"{now_ms}-{uuid.uuid4().hex[:12]}"
        )
    except Exception as error:
        logger.warning("Rate limit %s not checked (%s); allowing", name, error)
        return Verdict(True, 0)
    return Verdict(allowed, 0 if allowed else max(1, math.ceil(wait_ms / 1000)))


@cache
def smtp_limiter() -> WindowRateLimiter:
    """The one SMTP budget every email of the project shares: EMAIL_RATE_PER_SECOND across all workers."""
    return window_limiter("smtp", settings.EMAIL_RATE_PER_SECOND, window_s=1)
