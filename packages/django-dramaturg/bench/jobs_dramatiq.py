"""The benchmark jobs as Dramatiq actors on the package's broker and middleware (the settings' DRAMATIQ_BROKER)."""

import dramatiq

from bench import jobs_common

QUEUE = "bench"


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def bench_noop() -> None:
    jobs_common.noop()


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def bench_sleep10() -> None:
    jobs_common.sleep10()


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def bench_note_start(enqueued_at: float) -> None:
    jobs_common.note_start(enqueued_at)


FAILING_QUEUE = "bench-fail"


@dramatiq.actor(queue_name=FAILING_QUEUE, max_retries=0)
def bench_fails() -> None:
    raise RuntimeError("fails on purpose")


@dramatiq.actor(queue_name="bench-fail", max_retries=0)
def bench_fails_differently(n: int) -> None:
    raise RuntimeError(f"fails on purpose, number {n}")  # no two failures alike
