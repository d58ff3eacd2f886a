"""The failing benchmark job on stock Dramatiq: its own RedisBroker and default middleware, no Django
(bench/failing_drain.py's peer; the same actor name and queue as bench.jobs_dramatiq.bench_fails)."""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

dramatiq.set_broker(RedisBroker(url=f"{os.environ['BENCH_SYSTEM_URL']}/0"))


@dramatiq.actor(queue_name="bench-fail", max_retries=0)
def bench_fails() -> None:
    raise RuntimeError("fails on purpose")
