"""The benchmark jobs as Celery tasks over the same Redis, at Celery's best for many short jobs
(bench/run.py gives the worker flags). BENCH_CELERY_ACKS_LATE=1 (default): ack after the task ran,
and a task whose worker died goes back to the queue: Dramatiq's own delivery guarantee."""

import os

from celery import Celery

from bench import jobs_common

ACKS_LATE = os.environ.get("BENCH_CELERY_ACKS_LATE", "1") == "1"

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6390/1"))
app.conf.update(
    task_default_queue="bench",
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_acks_late=ACKS_LATE,
    task_reject_on_worker_lost=ACKS_LATE,
    worker_send_task_events=False,
)


@app.task(name="bench.noop")
def noop() -> None:
    jobs_common.noop()


@app.task(name="bench.sleep10")
def sleep10() -> None:
    jobs_common.sleep10()


@app.task(name="bench.note_start")
def note_start(enqueued_at: float) -> None:
    jobs_common.note_start(enqueued_at)
