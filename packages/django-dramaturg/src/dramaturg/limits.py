"""Rate limits shared by every process through Redis.

`sliding_window` guards request paths (one round trip, a Lua script); a `TokenBucket` paces
workers, which may wait for a slot: one round trip takes the slot (now, or at a time the caller
then sleeps until), so a wait costs no polling; threads of one process waiting at once share it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from dramaturg import conf

from .store import rate_limits

logger = logging.getLogger(__name__)

_clock = time.time  # the sliding window's notion of now; replaceable in tests that must control time


@dataclass(frozen=True)
class TokenBucket:
    """`rate_per_s` slots a second across all processes, at most `burst` of them at once (a bucket
    of `burst` tokens refilled at `rate_per_s`): in any `t` seconds, at most `burst + rate_per_s * t`."""

    name: str
    rate_per_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0 or self.burst < 1:
            raise ValueError(f"A token bucket needs a rate above 0 and a burst of 1 or more, not {self}")


def take(bucket: TokenBucket, within_s: float, count: int = 1) -> rate_limits.Slot:
    """Reserve `bucket`'s next slot if it is due within `within_s` (and up to `count - 1` more after
    it within that time): one Redis round trip. The slot says how long to wait for it, or, when none
    is due that soon (nothing taken), until the earliest."""
    return rate_limits.take_token(bucket.name, 1e6 / bucket.rate_per_s, bucket.burst, round(within_s * 1e6), count)


class _Reserved:
    """Slots this process took ahead for its threads on one bucket. A thread that finds none takes one
    for each thread of the process then waiting on the bucket (asleep until its slot, or queued for
    Redis): under load those come back for another as their sends end, one slot time apart, and find
    theirs here, so a process's threads share one call. A slot not claimed within an interval of its
    time (its thread did not come back) is dropped, not sent on late next to the following one; the
    budget it held is lost, never exceeded. At most `MAX_AHEAD` at once. Only for buckets slower than
    `SHARED_BELOW_RATE` a second: at higher rates a slot is stale before another thread could use it,
    and the threads' calls must not wait in line for each other."""

    MAX_AHEAD = 8
    SHARED_BELOW_RATE = 200

    def __init__(self) -> None:
        self.fetching = threading.Lock()  # one call to Redis at a time; the other waiters queue here
        self.lock = threading.Lock()
        self.slots: list[float] = []  # monotonic times, ascending
        self.waiting = 0  # threads in acquire_within

    def pop_due(self, deadline: float, stale_before: float) -> float | None:
        with self.lock:
            while self.slots and self.slots[0] < stale_before:
                self.slots.pop(0)
            if self.slots and self.slots[0] <= deadline:
                return self.slots.pop(0)
            return None


_reserved: defaultdict[str, _Reserved] = defaultdict(_Reserved)


def acquire_within(bucket: TokenBucket, timeout_s: float) -> bool:
    """Take a slot due within `timeout_s` and sleep until it: a short burst waits in place instead
    of using up retries. At most one Redis round trip whatever the wait, fewer when threads of the
    process wait together on a slow bucket (they share one, `_Reserved`); False (nothing taken) at once when the
    earliest slot is further away."""
    if bucket.rate_per_s > _Reserved.SHARED_BELOW_RATE:
        slot = take(bucket, timeout_s)
        if slot.taken and slot.wait_us > 0:
            time.sleep(slot.wait_us / 1e6)
        return slot.taken
    reserved = _reserved[bucket.name]
    with reserved.lock:
        reserved.waiting += 1
    try:
        with reserved.fetching:
            now = time.monotonic()
            at = reserved.pop_due(now + timeout_s, now - 1 / bucket.rate_per_s)
            if at is None:
                slot = take(bucket, timeout_s, count=min(reserved.waiting, _Reserved.MAX_AHEAD))
                if not slot.taken:
                    return False
                answered = time.monotonic()  # waits count from Redis' answer: never early, late by the reply's way
                at = answered + slot.wait_us / 1e6
                with reserved.lock:
                    reserved.slots = sorted([*reserved.slots, *(answered + us / 1e6 for us in slot.more_us)])
        wait = at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    finally:
        with reserved.lock:
            reserved.waiting -= 1
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
def smtp_limiter() -> TokenBucket:
    """The one SMTP budget every email of the project shares: DRAMATURG['EMAIL']['RATE_PER_S'] across all
    workers, in any second (a burst of 1: sends are spaced evenly, never bunched at a second's start)."""
    return TokenBucket("smtp", conf.settings.EMAIL.RATE_PER_S, burst=1)
