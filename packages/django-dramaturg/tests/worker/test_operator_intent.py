"""An operator's kill or delete is final for what the message owed (dramaturg.owed_rows), over real Redis:
the send-once row linked to the message is cancelled in the same action (one, selected, all matching), the
reconciler and a copy of the job never send it, a requeue owes it again, "send again" owes it anew, and
health does not count an operator's kill as a failure."""

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from dramatiq import Message, get_broker

from dramaturg import actions, alerts, bulk, health, owed_rows, sendonce
from dramaturg.actors import send_health_alert
from dramaturg.alerts import FAILING, Change
from dramaturg.models import AuditEntry, BulkAction, HealthAlert, OutboxMessage
from dramaturg.monitoring import snapshot
from dramaturg.store import dead_letters, delayed
from dramaturg.store.filters import MessageFilter
from harness.dead_letters import kill_in_redis_only
from harness.dramaturg_settings import set_dramaturg

pytestmark = pytest.mark.django_db

CANCELLED, PENDING = HealthAlert.Status.CANCELLED, HealthAlert.Status.PENDING


def _retrying_alert(settings, subject: str = "emails") -> tuple[HealthAlert, delayed.MessageRef]:
    """A health alert whose send failed once and whose job waits for its retry in the delay queue."""
    settings.ADMINS = ["ops@example.com"]
    [alert] = alerts.record([Change("dead_letters", subject, 1, FAILING, "1 dead letter")], lambda pk: None)
    HealthAlert.objects.filter(pk=alert.pk).update(attempts=1, last_error="TimeoutError: timed out")
    message: Message[Any] = Message(
        queue_name="emails", actor_name="send_health_alert", args=(alert.pk,), kwargs={}, options={"retries": 1}
    )
    enqueued = get_broker().enqueue(message, delay=600_000)
    return alert, delayed.MessageRef("emails", enqueued.options["redis_message_id"])


def _status(alert: HealthAlert) -> str:
    return HealthAlert.objects.get(pk=alert.pk).status


def _dead_ref() -> dead_letters.DeadLetterRef:
    [letter] = dead_letters.page_dead(MessageFilter(queue="emails"), limit=5).messages
    return dead_letters.DeadLetterRef.parse(letter.ref)


def test_a_kill_cancels_the_row_and_neither_the_reconciler_nor_a_copy_of_the_job_sends_it(clean_redis, settings):
    alert, ref = _retrying_alert(settings)
    entry = actions.perform(None, AuditEntry.Action.KILL, "one", refs=[ref])
    assert entry.count == 1 and _status(alert) == CANCELLED
    assert not sendonce.owed(HealthAlert.objects.all(), timedelta(0)).exists()
    assert sendonce.enqueue_owed(HealthAlert.objects.all(), timedelta(0)) == 0
    send_health_alert(alert.pk)  # a copy of the job (an earlier reconciler run's) runs anyway
    assert mail.outbox == [] and _status(alert) == CANCELLED


def test_a_requeue_of_the_killed_message_owes_the_row_again(clean_redis, settings):
    alert, ref = _retrying_alert(settings)
    actions.perform(None, AuditEntry.Action.KILL, "one", refs=[ref])
    assert actions.perform(None, AuditEntry.Action.REQUEUE, "one", refs=[_dead_ref()]).count == 1
    assert _status(alert) == PENDING
    send_health_alert(alert.pk)
    assert len(mail.outbox) == 1 and _status(alert) == HealthAlert.Status.SENT


def test_a_delete_of_a_dead_letter_cancels_its_row(clean_redis, settings):
    alert, ref = _retrying_alert(settings)
    kill_in_redis_only([ref])  # dead without the operator's action flow: the row is still owed
    HealthAlert.objects.filter(pk=alert.pk).update(status=HealthAlert.Status.FAILED, failure="transient")
    assert actions.perform(None, AuditEntry.Action.DELETE, "selected", refs=[_dead_ref()]).count == 1
    assert _status(alert) == CANCELLED


def test_a_bulk_kill_of_all_matching_cancels_every_row(clean_redis, settings):
    pairs = [_retrying_alert(settings, subject=f"queue-{i}") for i in range(3)]
    job = BulkAction.objects.create(action=AuditEntry.Action.KILL, filters={"queue": "emails"}, total=3)
    bulk.run(job.pk)
    assert BulkAction.objects.get(pk=job.pk).count == 3
    assert [_status(alert) for alert, _ in pairs] == [CANCELLED] * 3


def test_a_sent_row_is_not_cancelled(clean_redis, settings):
    alert, ref = _retrying_alert(settings)
    sendonce.mark_sent(alert)
    actions.perform(None, AuditEntry.Action.KILL, "one", refs=[ref])
    assert _status(alert) == HealthAlert.Status.SENT


def test_owe_again_puts_a_cancelled_row_back_with_its_job_in_the_outbox_once(clean_redis, settings):
    alert, ref = _retrying_alert(settings)
    actions.perform(None, AuditEntry.Action.KILL, "one", refs=[ref])
    assert [row.pk for row in owed_rows.owe_again(HealthAlert.objects.filter(pk=alert.pk))] == [alert.pk]
    assert owed_rows.owe_again(HealthAlert.objects.filter(pk=alert.pk)) == []  # a double click: one job
    assert _status(alert) == PENDING
    [row] = OutboxMessage.objects.filter(actor_name="send_health_alert")
    assert row.args == [alert.pk]


def test_an_operators_kill_is_not_a_failing_dead_letters_check(clean_redis, settings):
    set_dramaturg(settings, "HEALTH", DEAD_LETTERS_MAX=0)
    _, ref = _retrying_alert(settings)
    actions.perform(None, AuditEntry.Action.KILL, "one", refs=[ref])
    assert health.check_dead_letters(snapshot(actors=False)) == []
    # A real failure in the same queue still counts.
    get_broker().client.zadd(dead_letters.keys.dead_key("emails"), {"a-real-one": dead_letters.now_ms()})
    assert [p.subject for p in health.check_dead_letters(snapshot(actors=False))] == ["emails"]


def test_the_retries_list_shows_each_messages_last_error_masked(clean_redis, client, django_user_model):
    client.force_login(django_user_model.objects.create_user("ops", "ops@example.com", "pw", is_staff=True))
    traceback = "Traceback (most recent call last):\n  ...\nSMTPSenderRefused: (451, b'token=abc123 try later')\n"
    message: Message[Any] = Message(
        queue_name="emails", actor_name="send_health_alert", args=(1,), kwargs={}, options={"retries": 2}
    )
    get_broker().enqueue(message.copy(options={"retries": 2, "traceback": traceback}), delay=600_000)
    page = client.get("/jobs/retries/").content.decode()
    assert "SMTPSenderRefused: (451, b&#x27;token=******** try later&#x27;)" in page
    assert "abc123" not in page
