"""The benchmark jobs on stock Dramatiq: its own RedisBroker and default middleware, no Django
(bench/failing_drain.py's and bench/run.py's peer; the same actor names and queues as bench.jobs_dramatiq)."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench import jobs_common

dramatiq.set_broker(RedisBroker(url=f"{os.environ['BENCH_SYSTEM_URL']}/0"))


@dramatiq.actor(queue_name="bench-fail", max_retries=0)
def bench_fails() -> None:
    raise RuntimeError("fails on purpose")


@dramatiq.actor(queue_name="bench-fail", max_retries=0)
def bench_fails_differently(n: int) -> None:
    raise RuntimeError(f"fails on purpose, number {n}")  # no two failures alike


# bench/run.py's no-op table: the jobs every system runs (bench.jobs_common needs no Django).


@dramatiq.actor(queue_name="bench", max_retries=0)
def bench_noop() -> None:
    jobs_common.noop()


@dramatiq.actor(queue_name="bench", max_retries=0)
def bench_sleep10() -> None:
    jobs_common.sleep10()


@dramatiq.actor(queue_name="bench", max_retries=0)
def bench_note_start(enqueued_at: float) -> None:
    jobs_common.note_start(enqueued_at)
