"""The order of an operator's action on what a message owed (dramaturg.actions, dramaturg.owed_rows), over real
Redis and the host's demo Notice rows: the rows change first, from the bodies about to be taken, so a database
that refuses the change leaves the messages in Redis and the view answers 503; a requeued message is owed again
before it is back in its queue; the rows of messages another operator or a worker took first get their status
back; a queue's clear cancels its rows a batch at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.core.mail import send_mail
from django.db import connection
from django.utils import timezone
from dramatiq import Message, get_broker

from dramaturg import actions, owed_rows, sendonce
from dramaturg.mail import outbox
from dramaturg.models import AuditEntry, OutboxEmail
from dramaturg.store import dead_letters, delayed, queues
from dramaturg.store.filters import MessageFilter
from host.demo.models import Notice
from host.demo.tasks import send_notice

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
def test_a_delete_the_database_refuses_leaves_the_message_in_redis_the_row_owed_and_answers_503(
    clean_redis, staff, host_middleware
):
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


@pytest.mark.django_db
def test_a_requeued_letter_s_row_is_pending_before_the_message_is_back_in_its_queue(clean_redis, monkeypatch):
    notice = _notice(CANCELLED)
    ref = _dead_letter_of(notice)
    seen: list[tuple[str, list[str]]] = []
    reopen = owed_rows.reopen_for_messages

    def reopen_then_look(messages: list[dict[str, Any]]) -> owed_rows.Changed:
        changed = reopen(messages)
        seen.append((_status(notice), _ready_ids()))
        return changed

    monkeypatch.setattr(owed_rows, "reopen_for_messages", reopen_then_look)
    assert actions.perform(None, AuditEntry.Action.REQUEUE, "one", refs=[ref]).count == 1
    assert seen == [(PENDING, [])]  # owed again while the letter was still dead
    assert _ready_ids() == [ref.redis_id] and _status(notice) == PENDING


@pytest.mark.django_db
def test_a_requeue_another_operator_beat_leaves_the_row_cancelled(clean_redis, monkeypatch):
    notice = _notice(CANCELLED)
    ref = _dead_letter_of(notice)
    reopen = owed_rows.reopen_for_messages

    def reopen_then_lose_the_race(messages: list[dict[str, Any]]) -> owed_rows.Changed:
        changed = reopen(messages)
        dead_letters.take_dead([ref], requeue=False)  # another operator deletes the letter first
        return changed

    monkeypatch.setattr(owed_rows, "reopen_for_messages", reopen_then_lose_the_race)
    assert actions.perform(None, AuditEntry.Action.REQUEUE, "one", refs=[ref]).count == 0
    assert _status(notice) == CANCELLED and _ready_ids() == []


@pytest.mark.django_db
def test_a_kill_a_worker_beat_gives_the_row_back_its_status_and_leaves_other_rows_alone(clean_redis, monkeypatch):
    failed, cancelled_before = _notice(Notice.Status.FAILED), _notice(CANCELLED)
    refs = [
        delayed.MessageRef(QUEUE, _enqueued(n, delay=600_000).options["redis_message_id"])
        for n in (failed, cancelled_before)
    ]
    cancel = owed_rows.cancel_for_messages

    def cancel_then_lose_the_race(messages: list[dict[str, Any]]) -> owed_rows.Changed:
        changed = cancel(messages)
        delayed.take_messages(refs, delayed.RETRY)  # their time came: back in the queue, for a worker
        return changed

    monkeypatch.setattr(owed_rows, "cancel_for_messages", cancel_then_lose_the_race)
    assert actions.perform(None, AuditEntry.Action.KILL, "selected", refs=refs).count == 0
    assert (_status(failed), _status(cancelled_before)) == (Notice.Status.FAILED, CANCELLED)


@pytest.mark.django_db
def test_clearing_a_queue_of_notices_cancels_every_row_with_a_bounded_number_of_queries(
    clean_redis, django_assert_max_num_queries
):
    notices = [_notice() for _ in range(60)]
    for notice in notices:
        _enqueued(notice)
    with django_assert_max_num_queries(12):  # per batch: read and cancel the rows; then the audit entry
        entry = actions.clear_queue(None, QUEUE)
    assert entry.count == 60 and _ready_ids() == []
    assert set(Notice.objects.values_list("status", flat=True)) == {CANCELLED}


def _outbox_email(**fields: Any) -> OutboxEmail:
    send_mail("Invoice 44", "Body", "shop@example.com", ["cy@example.com"])
    row = OutboxEmail.objects.latest("pk")
    OutboxEmail.objects.filter(pk=row.pk).update(**fields)
    return OutboxEmail.objects.get(pk=row.pk)


@pytest.mark.django_db
def test_the_outbox_s_send_again_does_not_owe_an_email_whose_outcome_is_unknown(clean_redis, outbox_mailers):
    unknown = _outbox_email(status=OutboxEmail.Status.UNKNOWN)
    failed = _outbox_email(status=OutboxEmail.Status.FAILED)
    assert outbox.requeue([unknown.pk, failed.pk]) == 1
    assert OutboxEmail.objects.get(pk=unknown.pk).status == OutboxEmail.Status.UNKNOWN
    assert OutboxEmail.objects.get(pk=failed.pk).status == PENDING


@pytest.mark.django_db
def test_the_outbox_s_cancel_of_an_email_being_sent_cancels_it_and_the_send_s_outcome_wins(clean_redis, outbox_mailers):
    sending, failing = (
        _outbox_email(status=OutboxEmail.Status.SENDING, claimed_until=timezone.now() + timedelta(minutes=5))
        for _ in range(2)
    )
    assert outbox.cancel([sending.pk, failing.pk]) == 2
    sendonce.mark_sent(sending)  # the send under way was accepted: it is sent
    sendonce.mark_failed(failing, TimeoutError("timed out"), final=False)  # it failed: it stays cancelled
    assert OutboxEmail.objects.get(pk=sending.pk).status == OutboxEmail.Status.SENT
    assert OutboxEmail.objects.get(pk=failing.pk).status == CANCELLED
