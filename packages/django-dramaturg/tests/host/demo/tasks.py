"""`@task` functions and actors the package tests need, found by workers like any app's tasks module."""

from __future__ import annotations

from pathlib import Path

import dramatiq
from django.core.mail import EmailMessage
from django.db import transaction
from django.tasks import TaskContext, task
from periodiq import cron

from dramaturg import outbox, sendonce
from dramaturg.mail import sending_alias

from .models import Notice


@task
def add(a: int, b: int) -> int:
    return a + b


@task(max_retries=1)  # type: ignore[call-overload]  # django-stubs 6.1.2 lacks 6.1's extra @task kwargs
def explode(text: str) -> None:
    raise ValueError(text)


@task(takes_context=True, max_retries=3)  # type: ignore[call-overload]  # as above
def fails_once(context: TaskContext, label: str) -> dict:
    """Fails its first attempt; the second returns what its context says."""
    if context.attempt < 2:
        raise RuntimeError(f"attempt {context.attempt} of {label} fails on purpose")
    return {"attempt": context.attempt, "result_id": context.task_result.id, "label": label}


@task
async def double(x: int) -> int:
    return x * 2


@task
def touch(path: str) -> str:
    """A side effect a test can look for: the file exists once the task ran."""
    Path(path).touch()
    return path


@task(queue_name="reports")
def add_on_reports(a: int, b: int) -> int:
    return a + b


@task
def returns_a_set() -> object:
    return {1, 2}


@dramatiq.actor(**sendonce.email_actor_options())
def send_notice(notice_id: int) -> None:
    """Send notice `notice_id` once (claimed, settled, retried on failure like every email actor)."""
    sendonce.send(
        Notice.objects.all(),
        notice_id,
        # Through the mailer that talks to the server: the notice is owed work already, not an outbox email.
        lambda notice: EmailMessage("Notice", "A notice from the host.", to=[notice.address]).send(
            using=sending_alias()
        ),
        what="Notice",
    )


def notify(address: str) -> Notice:
    """Owe `address` a notice and enqueue its job when the transaction commits (the outbox)."""
    with transaction.atomic():
        notice = Notice.objects.create(address=address)
        outbox.enqueue_on_commit(send_notice, notice.pk)
    return notice


@dramatiq.actor(queue_name="reports")
def hold(number: int, label: str) -> None:
    """A job on `reports`, which the session worker does not consume: its messages wait there."""


@dramatiq.actor(queue_name="reports", periodic=cron("0 2 * * *"))
def nightly_digest() -> None:
    """A periodic actor for the schedules page."""


@task(queue_name="reports")
def nap_then_touch(path: str, seconds: float) -> str:
    """A job that takes a while, then leaves a file: a graceful shutdown lets it finish."""
    import time

    time.sleep(seconds)
    Path(path).touch()
    return path


@dramatiq.actor(queue_name="reports", max_retries=1, min_backoff=10, max_backoff=100)
def times_out(label: str) -> None:
    """An expected failure (a timeout, as an SMTP server's), retried once, then a dead letter."""
    raise TimeoutError(f"{label}: the server did not answer")
