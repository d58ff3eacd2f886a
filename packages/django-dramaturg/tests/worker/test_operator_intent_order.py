"""The order of an operator's action on what a message owed (dramaturg.actions, dramaturg.owed_rows), over real
Redis and the host's demo Notice rows: the rows change first, from the bodies about to be taken, so a database
that refuses the change leaves the messages in Redis and the view answers 503; a requeued message is owed again
before it is back in its queue; the rows of messages another operator or a worker took first get their status
back; a queue's clear cancels its rows a batch at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from host.demo.models import Notice
from host.demo.tasks import send_notice
from django.db import connection
from dramatiq import Message, get_broker

from dramaturg import actions, owed_rows
from dramaturg.models import AuditEntry
from dramaturg.store import dead_letters, delayed, queues
from dramaturg.store.filters import MessageFilter

QUEUE = send_notice.queue_name
PENDING, CANCELLED = Notice.Status.PENDING, Notice.Status.CANCELLED


def _notice(status: str = PENDING) -> Notice:
    return Notice.objects.create(address="someone@example.com", status=status)


def _status(notice: Notice) -> str:
    return Notice.objects.get(pk=notice.pk).status


def _enqueued(notice: Notice, *, delay: int | None = None) -> Message[Any]:
    return get_broker().enqueue(send_notice.message(notice.pk), delay=delay)


def _ready_ids() -> list[str]:
    return [m.redis_id for m in queues.page_ready(QUEUE, limit=1000)]


def _dead_letter_of(notice: Notice) -> dead_letters.DeadLetterRef:
    """The notice's job, killed into the dead letters without the operator's action flow (its row untouched)."""
    waiting = _enqueued(notice, delay=600_000)
    delayed.take_messages([delayed.MessageRef(QUEUE, waiting.options["redis_message_id"])], delayed.KILL)
    [letter] = dead_letters.page_dead(MessageFilter(queue=QUEUE), limit=5).messages
    return dead_letters.DeadLetterRef.parse(letter.ref)


@contextmanager
def _write_locked() -> Iterator[None]:
    """The demo database refuses writes: another connection holds SQLite's write lock past a short busy timeout."""
    if connection.vendor != "sqlite":
        pytest.skip("the write lock is SQLite's; PostgreSQL outages are played in the integration tier")
    options = connection.settings_dict["OPTIONS"]
    busy_timeout = options.get("timeout")
    connection.close()
    options["timeout"] = 0.2
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()
        options["timeout"] = busy_timeout


@pytest.fixture
def host_middleware(settings) -> None:
    """The package's ServiceUnavailableMiddleware installed, as a host does."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "dramaturg.unavailable.ServiceUnavailableMiddleware"]


@pytest.mark.django_db(transaction=True)
def test_a_delete_the_database_refuses_leaves_the_message_in_redis_the_row_owed_and_answers_503(clean_redis, staff, host_middleware):
    notice = _notice()
    ref = f"{QUEUE}/{_enqueued(notice).options['redis_message_id']}"
    data = {"op": "delete_ready:one", "refs": ref}
    assert staff.post("/jobs/ready/action/", data).status_code == 200  # the confirmation page
    with _write_locked():
        response = staff.post("/jobs/ready/action/", {**data, "confirm": "yes"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert _ready_ids() == [ref.split("/", 1)[1]]
    assert _status(notice) == PENDING and not AuditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_clear_the_database_refuses_leaves_the_queue_whole_and_answers_503(clean_redis, staff, host_middleware):
    notices = [_notice() for _ in range(3)]
    for notice in notices:
        _enqueued(notice)
    assert staff.post(f"/jobs/queues/{QUEUE}/clear/", {"op": "clear"}).status_code == 200
    with _write_locked():
        response = staff.post(f"/jobs/queues/{QUEUE}/clear/", {"op": "clear", "confirm": "yes"})
    assert response.status_code == 503
    assert len(_ready_ids()) == 3
    assert [_status(n) for n in notices] == [PENDING] * 3
