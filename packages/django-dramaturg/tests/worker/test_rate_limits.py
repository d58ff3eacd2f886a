"""The workers' token buckets (dramaturg.limits.TokenBucket, lua/token_bucket.lua) over real Redis.

Slot times are read on Redis' clock, the only clock the buckets use, so the checks are exact."""

from __future__ import annotations

import itertools
import threading

import pytest

from dramaturg import conf, limits
from dramaturg.store import rate_limits
from dramaturg.store.connection import client
from harness.processes import wait_for


def redis_now_us() -> int:
    seconds, micros = client().time()
    return seconds * 1_000_000 + micros


def test_a_bucket_gives_its_burst_at_once_then_one_slot_per_interval(clean_redis):
    # A slot a second: a loaded machine's pauses between the calls stay far inside one interval.
    bucket = limits.TokenBucket("burst", rate_per_s=1, burst=3)
    burst = [limits.take(bucket, within_s=0) for _ in range(3)]
    assert [(s.taken, s.wait_us) for s in burst] == [(True, 0)] * 3

    refused = limits.take(bucket, within_s=0)
    assert not refused.taken and 0 < refused.wait_us <= 1_000_000
    again = limits.take(bucket, within_s=0)
    assert not again.taken and again.at_us == refused.at_us  # a refusal takes nothing

    # Reserved ahead: each caller is told to wait exactly one interval more than the one before.
    ahead = [limits.take(bucket, within_s=10) for _ in range(3)]
    assert all(s.taken for s in ahead)
    assert ahead[0].at_us == refused.at_us
    assert [b.at_us - a.at_us for a, b in itertools.pairwise(ahead)] == [1_000_000, 1_000_000]
    assert 0 < ahead[0].wait_us < ahead[1].wait_us < ahead[2].wait_us <= 3_000_000

    # Nothing within half a second once the next slot is ~1 s away: refused at once, with the exact wait.
    refused = limits.take(bucket, within_s=0.5)
    assert not refused.taken and refused.at_us == ahead[2].at_us + 1_000_000
    assert refused.wait_us == pytest.approx(refused.at_us - redis_now_us(), abs=200_000)


def test_a_bucket_refills_at_its_rate_up_to_its_burst(clean_redis):
    # A slot every 500 ms: a loaded machine's pause between two takes stays well inside one interval.
    bucket = limits.TokenBucket("refill", rate_per_s=2, burst=4)
    for _ in range(4):
        assert limits.take(bucket, within_s=0).taken
    earliest = limits.take(bucket, within_s=0)
    assert not earliest.taken

    wait_for(lambda: limits.take(bucket, within_s=0).taken, interval=0.01, what="a slot to come back")
    assert redis_now_us() >= earliest.at_us  # not before the time it was promised

    # Idle for the whole burst's worth of intervals: the burst is back, and no more than that.
    full_at = earliest.at_us + 4 * 500_000
    wait_for(lambda: redis_now_us() >= full_at, interval=0.01, what="the bucket to refill")
    taken = [limits.take(bucket, within_s=0).taken for _ in range(5)]
    assert taken == [True] * 4 + [False]


def test_acquire_within_sleeps_until_its_slot_or_refuses_at_once(clean_redis):
    # A slot every second, no burst: a loaded machine took over 200 ms between two calls, so the next
    # slot came due between them when the rate was 5 a second.
    bucket = limits.TokenBucket("acquire", rate_per_s=1)
    assert limits.acquire_within(bucket, timeout_s=0)
    promised = limits.take(bucket, within_s=0)
    assert not promised.taken

    assert not limits.acquire_within(bucket, timeout_s=0.01)  # the slot is ~1 s away
    assert limits.acquire_within(bucket, timeout_s=3)
    assert redis_now_us() >= promised.at_us  # it returned once its slot, the one promised, was due
    assert limits.take(bucket, within_s=3).at_us == promised.at_us + 1_000_000


def test_many_concurrent_takers_never_exceed_the_rate_over_any_window(clean_redis):
    rate, burst, interval_us = 50, 5, 20_000
    bucket = limits.TokenBucket("concurrent", rate_per_s=rate, burst=burst)
    slots: list[rate_limits.Slot] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def taker() -> None:
        start.wait()
        for _ in range(15):
            slot = limits.take(bucket, within_s=3)  # 120 takes, all within reach: 5 + 3 s x 50
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(slots) == 120 and all(s.taken for s in slots)
    slots.sort(key=lambda s: s.at_us)
    at = [s.at_us for s in slots]
    # A bucket of `burst` refilled at `rate`: from any slot to any later one, at most
    # burst + rate x the time between them.
    for i in range(len(at)):
        for j in range(i, len(at)):
            assert j - i + 1 <= burst + rate * (at[j] - at[i]) / 1e6, (i, j, at[i : j + 1])
    # Once takers wait for their slots, the slots follow each other by exactly one interval: none lost.
    waited = [(a.at_us, b.at_us) for a, b in itertools.pairwise(slots) if a.wait_us and b.wait_us]
    assert len(waited) > 100 and all(later - earlier == interval_us for earlier, later in waited)


def test_a_take_of_several_slots_reserves_consecutive_ones_within_the_wait(clean_redis):
    # A slot every 500 ms: a loaded machine's pause before the next caller stays inside the reserved ones.
    bucket = limits.TokenBucket("several", rate_per_s=2)
    slot = limits.take(bucket, within_s=1.25, count=5)
    assert slot.taken and slot.wait_us == 0
    assert len(slot.more_us) == 2  # at ~500 and ~1000 ms; the 4th and 5th would be further than 1.25 s
    assert 0 < slot.more_us[0] < slot.more_us[1] <= 1_000_000
    assert limits.take(bucket, within_s=3).at_us == slot.at_us + 1_500_000  # the next caller's is after them


def test_threads_waiting_at_once_share_their_calls_to_redis(clean_redis, monkeypatch):
    bucket = limits.TokenBucket("shared", rate_per_s=50)
    # This process's calls to the bucket's script (the Redis server's own counts include other test processes).
    made: list[int] = []
    take_token = limits.rate_limits.take_token
    monkeypatch.setattr(limits.rate_limits, "take_token", lambda *a: made.append(1) or take_token(*a))
    calls = lambda: len(made)  # noqa: E731
    first = limits.take(bucket, within_s=0)  # the bucket's first slot: the threads' 40 come after it
    before, start = calls(), threading.Barrier(8)
    acquired: list[bool] = []

    def sender() -> None:
        start.wait()
        for _ in range(5):
            acquired.append(limits.acquire_within(bucket, timeout_s=10))

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert acquired == [True] * 40
    assert calls() - before < 40  # one call per slot without the sharing
    # And the budget was never exceeded: the next slot comes 41 intervals after the first at the earliest
    # (later if this call comes late, on a loaded machine, or a slot taken ahead went unclaimed and was dropped).
    interval_us = 1e6 / bucket.rate_per_s
    assert limits.take(bucket, within_s=0).at_us >= first.at_us + 41 * interval_us


def test_a_bucket_needs_a_rate_and_a_burst():
    with pytest.raises(ValueError, match="rate above 0"):
        limits.TokenBucket("none", rate_per_s=0)
    with pytest.raises(ValueError, match="burst of 1 or more"):
        limits.TokenBucket("none", rate_per_s=1, burst=0)


def test_the_smtp_budget_is_one_evenly_spaced_bucket_at_the_configured_rate(settings):
    assert limits.smtp_limiter() == limits.TokenBucket("smtp", conf.settings.EMAIL.RATE_PER_S, burst=1)
