"""The seed tutorial's Celery set-up (project/celery.py + a `@shared_task`), for bench/welcome_email.py:
Django set up, the app on the bench's Redis, results ignored, acks early (Celery's default)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_welcome_peer")

import django

django.setup()

from celery import Celery, shared_task  # noqa: E402

from bench import welcome_jobs  # noqa: E402

app = Celery("welcome", broker=os.environ.get("BENCH_CELERY_URL", "redis://127.0.0.1:6390/1"))
app.conf.update(
    task_default_queue="welcome",
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
)


@shared_task(name="bench.send_welcome_email")
def send_welcome_email(user_id: int) -> None:
    welcome_jobs.send_welcome_email(user_id)


@shared_task(name="bench.send_project_welcome_email")
def send_project_welcome_email(user_id: int) -> None:
    welcome_jobs.send_project_welcome_email(user_id)
