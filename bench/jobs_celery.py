"""The benchmark jobs as Celery tasks over the same Redis."""
import os

from celery import Celery

from bench import jobs_common

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6390/1"))
app.conf.update(task_default_queue="bench", task_ignore_result=True, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)


@app.task(name="bench.noop")
def noop() -> None:
    jobs_common.noop()


@app.task(name="bench.sleep10")
def sleep10() -> None:
    jobs_common.sleep10()


@app.task(name="bench.note_start")
def note_start(enqueued_at: float) -> None:
    jobs_common.note_start(enqueued_at)
