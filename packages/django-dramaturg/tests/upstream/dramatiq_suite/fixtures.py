"""Ours, not Dramatiq's: the fixtures Dramatiq's own `tests/test_redis.py` expects (its conftest's
`redis_broker` / `redis_worker` and `tests.common.worker`), pointed at the package's broker
(`dramaturg.broker.RedisBroker`) on a redis-server of the run's own (`UPSTREAM_REDIS_URL`), never the
shared one: their fixture FLUSHALLs. Staged by `run.py` beside the downloaded test file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker

from dramaturg.broker import RedisBroker


@pytest.fixture()
def redis_broker() -> Iterator[RedisBroker]:
    broker = RedisBroker(url=os.environ["UPSTREAM_REDIS_URL"])  # namespace "dramatiq", as their tests assume
    broker.client.flushall()
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    yield broker
    broker.client.flushall()
    broker.close()


@pytest.fixture()
def redis_worker(redis_broker: RedisBroker) -> Iterator[Worker]:
    # An idle consumer waits up to the worker timeout, and stop() waits it out: 100 ms, as Dramatiq's own
    # stub_worker fixture has it, instead of the 1 s default, so each test's teardown takes no second.
    worker = Worker(redis_broker, worker_threads=32, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@contextmanager
def worker(*args: Any, **kwargs: Any) -> Iterator[Worker]:
    """Their `tests.common.worker`."""
    started = Worker(*args, **kwargs)
    try:
        started.start()
        yield started
    finally:
        started.stop()
