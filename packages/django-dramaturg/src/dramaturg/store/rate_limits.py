"""Rate-limit state on the broker's Redis: the sliding-window log and the token buckets.

`dramaturg.limits` holds the policy (fail open, verdicts, waiting); this module holds the keys and the scripts.
"""

from __future__ import annotations

from typing import NamedTuple

from .connection import client, script
from .keys import rate_limit_key

__all__ = ["Slot", "rate_limit_key", "sliding_window_hit", "take_token"]


def sliding_window_hit(name: str, limit: int, window_ms: int, now_ms: int, member: str) -> tuple[bool, int]:
    """Log one hit of `name` at `now_ms` if fewer than `limit` hits were logged in the last
    `window_ms`; returns (allowed, ms until a slot frees). One round trip (lua/sliding_window.lua)."""
    conn = client()
    allowed, wait_ms = script("sliding_window", conn)(
        keys=[rate_limit_key(f"sliding:{name}")], args=[now_ms, window_ms, limit, member], client=conn
    )
    return bool(allowed), int(wait_ms)


class Slot(NamedTuple):
    taken: bool  # reserved for the caller; False: the earliest slot is further away than it would wait
    wait_us: int  # µs from now until that slot (0: now)
    at_us: int  # its time on Redis' clock (µs since the epoch)
    more_us: tuple[int, ...] = ()  # µs from now until each further slot taken with it (`count` > 1)


def take_token(name: str, interval_us: float, burst: int, max_wait_us: int, count: int = 1) -> Slot:
    """Take the next slot of bucket `name` (one every `interval_us`, up to `burst` at once) if it is
    due within `max_wait_us`, and up to `count - 1` more after it within that wait. One round trip
    (lua/token_bucket.lua)."""
    conn = client()
    taken, wait_us, at_us, *more_us = script("token_bucket", conn)(
        keys=[rate_limit_key(f"bucket:{name}")],
        args=[repr(float(interval_us)), burst, max_wait_us, count],
        client=conn,
    )
    return Slot(bool(taken), int(wait_us), int(at_us), tuple(int(us) for us in more_us))
