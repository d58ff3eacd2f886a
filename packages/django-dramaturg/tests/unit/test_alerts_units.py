"""Mail to ADMINS on a health state change (dramaturg.alerts): the pure state-change and throttle logic,
then its rows in the database (recording, racing runs, claims, owed alerts, the admin's read-only list),
and Django's own error mail leaving out the 503s of a failing health probe."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from dramaturg import alerts, conf, sendonce
from dramaturg.alerts import FAILING, RECOVERED, Change, Known, changes
from dramaturg.health import Problem
from dramaturg.models import HealthAlert
from harness.dramaturg_settings import set_dramaturg

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
HOUR = 3600
DEAD = Problem("dead_letters", "emails", "3 dead letters in the last 15 min (more than 0)")
NO_WORKER = Problem("no_worker", "reports", "1 ready and 0 delayed messages and no live worker consumes the queue")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_new_problem_owes_one_failing_mail_and_a_known_one_none():
    assert changes([DEAD], {}, T0, HOUR) == [Change("dead_letters", "emails", 1, FAILING, DEAD.message)]
    known = {("dead_letters", "emails"): Known(1, FAILING, DEAD.message, T0)}
    worse = Problem("dead_letters", "emails", "9 dead letters in the last 15 min (more than 0)")
    assert changes([worse], known, at(1), HOUR) == []  # still failing, whatever the figure says now
    assert changes([], {}, T0, HOUR) == []  # healthy and never failed: nothing


def test_a_problem_gone_owes_a_recovered_mail_at_once():
    known = {("dead_letters", "emails"): Known(1, FAILING, DEAD.message, T0)}
    assert changes([], known, at(1), HOUR) == [
        Change("dead_letters", "emails", 2, RECOVERED, DEAD.message, failing_since=T0)
    ]


def test_flapping_is_mailed_at_most_once_per_interval_and_caught_up_if_it_stays():
    recovered = {("dead_letters", "emails"): Known(2, RECOVERED, DEAD.message, last_failing_at=T0)}
    assert changes([DEAD], recovered, at(10), HOUR) == []  # failing again 10 min after the last FAILING mail
    assert changes([DEAD], recovered, at(59.9), HOUR) == []
    assert changes([DEAD], recovered, at(60), HOUR) == [Change("dead_letters", "emails", 3, FAILING, DEAD.message)]
    assert changes([DEAD], recovered, at(10), interval_s=0) == [
        Change("dead_letters", "emails", 3, FAILING, DEAD.message)
    ]


def test_keys_change_independently_failing_first():
    known = {("no_worker", "reports"): Known(1, FAILING, NO_WORKER.message, T0)}
    owed = changes([DEAD], known, at(1), HOUR)
    assert [(c.check, c.subject, c.state) for c in owed] == [
        ("dead_letters", "emails", FAILING),
        ("no_worker", "reports", RECOVERED),
    ]


def failing() -> Change:
    return Change("dead_letters", "emails", 1, FAILING, DEAD.message)


@pytest.mark.django_db
def test_the_rows_are_the_known_state_across_a_whole_cycle():
    enqueued: list[int] = []
    [first] = alerts.record(changes([DEAD], alerts.known_states(), at(0), HOUR), enqueued.append, now=at(0))
    assert enqueued == [first.pk] and (first.seq, first.state, first.status) == (1, FAILING, "pending")
    assert alerts.known_states() == {("dead_letters", "emails"): Known(1, FAILING, DEAD.message, at(0))}
    assert alerts.record(changes([DEAD], alerts.known_states(), at(1), HOUR), enqueued.append, now=at(1)) == []
    [back] = alerts.record(changes([], alerts.known_states(), at(5), HOUR), enqueued.append, now=at(5))
    assert (back.seq, back.state, back.failing_since, back.message) == (2, RECOVERED, at(0), DEAD.message)
    # Failing again within the hour: throttled, and the known state stays "recovered".
    assert alerts.record(changes([DEAD], alerts.known_states(), at(20), HOUR), enqueued.append, now=at(20)) == []
    [again] = alerts.record(changes([DEAD], alerts.known_states(), at(61), HOUR), enqueued.append, now=at(61))
    assert (again.seq, again.state) == (3, FAILING) and len(enqueued) == 3


@pytest.mark.django_db
def test_two_runs_that_saw_the_same_state_record_one_change():
    stale = alerts.known_states()  # both runs read "nothing known" before either writes
    enqueued: list[int] = []
    first = alerts.record(changes([DEAD], stale, T0, HOUR), enqueued.append, now=T0)
    second = alerts.record(changes([DEAD], stale, T0, HOUR), enqueued.append, now=T0)
    assert len(first) == 1 and second == [] and enqueued == [first[0].pk]
    assert HealthAlert.objects.count() == 1


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_row():
    def refuse(alert_id: int) -> None:
        raise RuntimeError("the outbox row could not be written")

    with pytest.raises(RuntimeError):
        alerts.record(changes([DEAD], {}, T0, HOUR), refuse, now=T0)
    assert not HealthAlert.objects.exists()


@pytest.mark.django_db
def test_mail_subject_and_body_say_what_changed_and_where_to_look(settings):
    set_dramaturg(settings, "ALERTS", BASE_URL="https://app.example.com")
    [down] = alerts.record([Change("no_worker", "reports", 1, FAILING, NO_WORKER.message)], lambda pk: None, now=at(0))
    assert alerts.mail_subject(down) == f"FAILING: no_worker reports: {NO_WORKER.message}"
    assert "Failing, seen at 2026-12-03 19:00:00 KST" in alerts.mail_body(down)
    assert "https://app.example.com/jobs/health" in alerts.mail_body(down)
    [up] = alerts.record(changes([], alerts.known_states(), at(30), HOUR), lambda pk: None, now=at(30))
    assert alerts.mail_subject(up) == f"RECOVERED: no_worker reports: {NO_WORKER.message}"
    assert "after 30 min (failing since 2026-12-03 19:00:00 KST)" in alerts.mail_body(up)


@pytest.mark.django_db
def test_an_alert_is_claimed_once_and_a_sent_one_never_again():
    [alert] = alerts.record([failing()], lambda pk: None)
    lease = timedelta(seconds=90)
    claimed = sendonce.claim(HealthAlert.objects.all(), alert.pk, lease)
    assert claimed is not None and claimed.status == "sending" and claimed.attempts == 1
    with pytest.raises(sendonce.AlreadyClaimed):
        sendonce.claim(HealthAlert.objects.all(), alert.pk, lease)  # another copy while this one sends
    sendonce.mark_failed(claimed, ConnectionRefusedError("smtp down"), final=False)
    retry = sendonce.claim(HealthAlert.objects.all(), alert.pk, lease)
    assert retry is not None and retry.attempts == 2
    sendonce.mark_sent(retry)
    assert sendonce.claim(HealthAlert.objects.all(), alert.pk, lease) is None


@pytest.mark.django_db
def test_owed_alerts_are_those_not_sent_with_no_live_claim_older_than_the_cutoff():
    old = timezone.now() - timedelta(minutes=10)
    [owed, sent, fresh] = alerts.record(
        [failing(), Change("no_worker", "reports", 1, FAILING, "x"), Change("outbox", "emails", 1, FAILING, "y")],
        lambda pk: None,
        now=old,
    )
    HealthAlert.objects.filter(pk=sent.pk).update(status="sent", sent_at=timezone.now())
    HealthAlert.objects.filter(pk=fresh.pk).update(created_at=timezone.now())
    assert [
        a.pk for batch in sendonce.owed_batches(HealthAlert.objects.all(), timedelta(minutes=5)) for a in batch
    ] == [owed.pk]
    sendonce.mark_reconciled([owed])
    assert not sendonce.owed(HealthAlert.objects.all(), timedelta(minutes=5)).exists()  # not again within the period


@pytest.mark.django_db
def test_prune_keeps_the_last_row_of_each_key():
    long_ago = timezone.now() - timedelta(days=200)
    alerts.record([failing()], lambda pk: None, now=long_ago)
    alerts.record(changes([], alerts.known_states(), long_ago, HOUR), lambda pk: None, now=long_ago)
    HealthAlert.objects.update(status="sent")
    assert alerts.prune() == 1
    assert list(HealthAlert.objects.values_list("seq", flat=True)) == [2]


def test_alerts_are_off_without_admins(settings):
    settings.ADMINS = []
    set_dramaturg(settings, "ALERTS", ENABLED=True)
    assert not alerts.enabled()
    settings.ADMINS = ["ops@example.com"]
    assert alerts.enabled()
    set_dramaturg(settings, "ALERTS", ENABLED=False)
    assert not alerts.enabled()


def test_the_check_is_scheduled_from_its_setting_and_the_mail_goes_on_the_emails_queue(settings):
    from dramaturg.actors import check_health, send_health_alert

    assert str(check_health.options["periodic"]) == conf.settings.ALERTS.CRON == "0 0 1 1 *"  # tests.settings
    assert send_health_alert.queue_name == "emails"


@pytest.mark.django_db
def test_the_admin_lists_health_alerts_read_only(client):
    User = get_user_model()
    [staff] = User.objects.bulk_create(
        [User(email="ops@example.com", is_staff=True, is_superuser=True, **{"username": "ops"})]
    )
    client.force_login(staff)
    [alert] = alerts.record([failing()], lambda pk: None)
    page = client.get("/admin/dramaturg/healthalert/").content.decode()
    assert "dead_letters" in page and "Failing" in page and "Pending" in page
    assert client.get("/admin/dramaturg/healthalert/add/").status_code == 403
    detail = client.get(f"/admin/dramaturg/healthalert/{alert.pk}/change/").content.decode()
    assert DEAD.message in detail and 'name="_save"' not in detail
