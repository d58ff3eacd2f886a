"""JobStats that measures its own CPU time in a worker, for bench/operator_view.py --drain only.

Each hook's thread CPU time is summed, less that of reading the clock twice (measured on every
call, as it runs), and so is the background publish's; at shutdown the sums go to the bench's
counter Redis (BENCH_COUNTER_URL). The wrapping itself costs a little more than JobStats alone,
so the bench times throughput with the plain middleware and this one apart.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from dramaturg.middleware.stats import JobStats

_clock = time.thread_time_ns


class TimedJobStats(JobStats):
    def __init__(self) -> None:
        super().__init__()
        self._hooks_ns = 0
        self._publish_ns = 0

    def _timed(self, hook: Any, *args: Any, **kwargs: Any) -> None:
        start = _clock()
        clocked = _clock()  # the cost of a clock read, taken off what follows
        hook(*args, **kwargs)
        self._hooks_ns += _clock() - clocked - (clocked - start)

    def before_process_message(self, broker, message) -> None:
        self._timed(super().before_process_message, broker, message)

    def after_process_message(self, broker, message, *, result=None, exception=None) -> None:
        self._timed(super().after_process_message, broker, message, result=result, exception=exception)

    def after_skip_message(self, broker, message) -> None:
        self._timed(super().after_skip_message, broker, message)

    def after_ack(self, broker, message) -> None:
        self._timed(super().after_ack, broker, message)

    def after_nack(self, broker, message) -> None:
        self._timed(super().after_nack, broker, message)

    def _publish(self) -> None:  # every publish before the shutdown's: the boot's, the background thread's
        start = _clock()
        super()._publish()
        self._publish_ns += _clock() - start

    def before_worker_shutdown(self, broker, worker) -> None:
        super().before_worker_shutdown(broker, worker)
        counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
        counter.incrby("bench:jobstats:hooks_ns", self._hooks_ns)
        counter.incrby("bench:jobstats:publish_ns", self._publish_ns)
