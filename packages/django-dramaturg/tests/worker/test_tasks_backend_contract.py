"""DramatiqBackend against Django's own expectations for a task backend (Django's tests/tasks:
`enqueue(...)` equals `get_result(id)`, and an empty QUEUES means no queue-name validation, as
BaseTaskBackend.validate_task and the TASKS setting's documentation say), over real Redis."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import InvalidTask
from django.tasks.signals import task_enqueued

from dramaturg import outbox
from dramaturg.models import OutboxMessage
from dramaturg.store import queues
from host.demo import tasks

pytestmark = pytest.mark.django_db(transaction=True)

# A queue the session's worker (emails and default), when another tier has started it in this
# process, does not run: a result stays READY while the test compares it.
IDLE = tasks.add.using(queue_name="reports")


@pytest.fixture
def enqueued_signals():
    seen = []

    def receive(sender, task_result, **kwargs) -> None:
        seen.append(dataclasses.replace(task_result))  # as it was when the signal was sent

    task_enqueued.connect(receive)
    yield seen
    task_enqueued.disconnect(receive)


def test_enqueue_returns_what_get_result_refresh_and_the_signal_give(clean_redis, enqueued_signals):
    result = IDLE.enqueue(1, 2)
    assert result.enqueued_at is not None and result.enqueued_at.microsecond % 1000 == 0
    assert default_task_backend.get_result(result.id) == result  # Django's test_get_result
    assert enqueued_signals == [result]
    refreshed = dataclasses.replace(result)
    refreshed.refresh()
    assert refreshed == result and refreshed.status == TaskResultStatus.READY


def test_enqueue_in_a_transaction_returns_what_get_result_gives_before_and_after_the_commit(
    clean_redis, enqueued_signals
):
    with transaction.atomic():
        result = IDLE.enqueue(3, 4)
        assert default_task_backend.get_result(result.id) == result  # waiting in the outbox
        assert queues.queue_counts("reports").ready == 0
    assert OutboxMessage.objects.get(message_id=result.id).dispatched_at is not None
    assert queues.queue_counts("reports").ready == 1
    assert default_task_backend.get_result(result.id) == result  # now Redis's record
    assert enqueued_signals == [result]


def test_a_task_the_relay_dispatches_between_get_results_two_reads_is_still_found(clean_redis, monkeypatch):
    """get_result reads Redis's record, then the outbox row; the relay records READY in Redis before it marks
    the row dispatched. A dispatch between the two reads leaves no waiting row, and the record in Redis."""
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "dispatch_now", lambda row: None)  # the web process dies before its dispatch
        with transaction.atomic():
            result = IDLE.enqueue(7, 8)
    backend = task_backends["default"]
    waiting_in_outbox = type(backend)._waiting_in_outbox

    def relay_in_between(self, result_id: str):
        outbox.dispatch(OutboxMessage.objects.filter(message_id=result_id))
        return waiting_in_outbox(self, result_id)

    monkeypatch.setattr(type(backend), "_waiting_in_outbox", relay_in_between)
    assert backend.get_result(result.id) == result


def test_an_empty_queues_setting_means_no_queue_name_validation(clean_redis, settings):
    settings.TASKS = {**settings.TASKS, "default": {**settings.TASKS["default"], "QUEUES": []}}
    backend = task_backends["default"]
    assert backend.queues == set()
    assert not [e for e in backend.check() if e.id in ("dramaturg.E101", "dramaturg.E106")]

    anywhere = tasks.add.using(queue_name="anywhere")  # refused while QUEUES lists queues
    result = anywhere.enqueue(5, 6)
    assert queues.queue_counts("anywhere").ready == 1
    stored = default_task_backend.get_result(result.id)
    assert stored == result and stored.task.queue_name == "anywhere"
    # Dramatiq's own rule for a queue name still holds.
    with pytest.raises(InvalidTask, match="not a valid Dramatiq queue name"):
        tasks.add.using(queue_name="not a queue")


def test_a_queue_outside_a_non_empty_queues_setting_is_refused():
    with pytest.raises(InvalidTask, match="Queue 'anywhere' is not valid"):
        tasks.add.using(queue_name="anywhere")
