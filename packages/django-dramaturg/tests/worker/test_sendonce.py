"""dramaturg.sendonce's claim over real Redis: taking over an expired lease, and the outcome a sender parked
there when the database would not take it (the worker tier: Redis, no process)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from dramaturg import alerts, sendonce
from dramaturg.alerts import FAILING, Change
from dramaturg.models import HealthAlert
from dramaturg.store import sendonce as parked
from harness.dramaturg_settings import set_dramaturg


def alert_left_sending(lease_expired: bool = True) -> HealthAlert:
    """A row whose sender stopped (killed or paused) while it held the lease."""
    [alert] = alerts.record([Change("dead_letters", "emails", 1, FAILING, "1 dead letter")], lambda pk: None)
    until = timezone.now() + timedelta(seconds=-1 if lease_expired else 60)
    HealthAlert.objects.filter(pk=alert.pk).update(status="sending", claimed_until=until, attempts=1)
    return alert


@pytest.mark.django_db
def test_a_lease_left_by_a_killed_sender_expires_and_the_next_copy_takes_over(clean_redis):
    alert = alert_left_sending()
    taken = sendonce.claim(HealthAlert.objects.all(), alert.pk, timedelta(seconds=90))
    assert taken is not None and taken.status == "sending" and taken.attempts == 2


@pytest.mark.django_db
def test_a_live_lease_is_not_taken_over(clean_redis):
    alert = alert_left_sending(lease_expired=False)
    with pytest.raises(sendonce.AlreadyClaimed):
        sendonce.claim(HealthAlert.objects.all(), alert.pk, timedelta(seconds=90))


@pytest.mark.django_db
def test_a_parked_outcome_marks_the_row_sent_instead_of_sending_it_again(clean_redis):
    """The sender was accepted, the database did not take the mark, the sender stopped: the next claim
    finds the outcome parked in Redis and settles the row as sent."""
    alert = alert_left_sending()
    parked.park_sent("dramaturg.healthalert", alert.pk, ttl_s=60)
    assert sendonce.claim(HealthAlert.objects.all(), alert.pk, timedelta(seconds=90)) is None
    row = HealthAlert.objects.get(pk=alert.pk)
    assert row.status == "sent" and row.sent_at is not None and row.claimed_until is None
    assert not parked.is_parked("dramaturg.healthalert", alert.pk)


@pytest.mark.django_db
def test_an_unknown_outcome_is_not_claimed_until_the_reconciler_releases_it(clean_redis, settings):
    alert = alert_left_sending()
    sendonce.mark_unknown(alert, TimeoutError("no answer after the message was handed over"))
    assert sendonce.claim(HealthAlert.objects.all(), alert.pk, timedelta(seconds=90)) is None
    set_dramaturg(settings, "SEND_ONCE", UNKNOWN_RESEND_AFTER_S=0)
    [owed] = [a for page in sendonce.owed_batches(HealthAlert.objects.all(), timedelta(hours=1)) for a in page]
    sendonce.release_unknown([owed])
    sendonce.mark_reconciled([owed])
    assert sendonce.claim(HealthAlert.objects.all(), alert.pk, timedelta(seconds=90)) is not None
    # A second unknown outcome: the same rule again (one more send after the wait), within the retry period.
    sendonce.mark_unknown(owed, TimeoutError("no answer again"))
    set_dramaturg(settings, "SEND_ONCE", UNKNOWN_RESEND_AFTER_S=3600)
    assert not sendonce.owed(HealthAlert.objects.all(), timedelta(hours=1)).exists()
    set_dramaturg(settings, "SEND_ONCE", UNKNOWN_RESEND_AFTER_S=0)
    assert sendonce.owed(HealthAlert.objects.all(), timedelta(hours=1)).exists()
    set_dramaturg(settings, "SEND_ONCE", RETRY_FAILED_FOR_S=0)
    assert not sendonce.owed(HealthAlert.objects.all(), timedelta(hours=1)).exists()  # past the period: an operator's


@pytest.mark.django_db(transaction=True)
def test_the_sender_renews_its_lease_while_the_server_takes_its_time(clean_redis, settings):
    """A send that outlasts the lease (a slow final reply) keeps its row: the lease is renewed every third."""
    set_dramaturg(settings, "SEND_ONCE", LEASE_S=1)
    [alert] = alerts.record([Change("dead_letters", "emails", 1, FAILING, "1 dead letter")], lambda pk: None)
    still_ours = []

    def slow_deliver(row: HealthAlert) -> None:
        time.sleep(2.5)
        until = HealthAlert.objects.get(pk=row.pk).claimed_until
        still_ours.append(until is not None and until > timezone.now())
        with pytest.raises(sendonce.AlreadyClaimed):
            sendonce.claim(HealthAlert.objects.all(), row.pk, timedelta(seconds=1))  # a copy of the job

    assert sendonce.send(HealthAlert.objects.all(), alert.pk, slow_deliver, what="Health alert") is not None
    assert still_ours == [True] and HealthAlert.objects.get(pk=alert.pk).status == "sent"
