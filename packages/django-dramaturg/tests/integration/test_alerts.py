"""Mail to ADMINS when a health check changes state, over real Redis, a real `rundramatiq` worker and a
real SMTP server: one FAILING mail, none while it stays failing, one RECOVERED mail; racing check runs;
an alert whose job Redis lost is sent from its row. (ADMINS is ops@example.com in tests/settings.py.)"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from dramatiq import get_broker

from dramaturg import alerts, health
from dramaturg.actors import check_health, send_health_alert
from dramaturg.models import HealthAlert
from dramaturg.store import recent
from harness.processes import wait_for
from host.demo.tasks import add_on_reports

pytestmark = [pytest.mark.integration]


def subject(message) -> str:
    return " ".join(str(message["Subject"]).split())  # unfolded


def body(message) -> str:
    return message.get_payload(decode=True).decode()  # quoted-printable undone


def run_checks_on_worker(times: int = 1) -> None:
    """Send the periodic check through the broker, as the scheduler does, and wait until it has run."""
    messages = [check_health.message() for _ in range(times)]
    get_broker().enqueue_many(messages)  # type: ignore[attr-defined]  # dramaturg.broker.RedisBroker
    ids = [message.message_id for message in messages]
    wait_for(lambda: all(recent.finished(i) for i in ids), what="the check runs to finish")


def stranded_reports_job() -> None:
    """A job on `reports`, which no worker of the session consumes: the `no_worker reports` problem."""
    add_on_reports.enqueue(20, 22)
    # A worker of `reports` killed by an earlier test counts as alive until its heartbeat times out.
    wait_for(lambda: any(p.check == "no_worker" for p in health.run_checks().problems), 90, what="the problem")


def test_admins_get_one_failing_mail_none_while_it_lasts_and_one_recovered(
    worker, smtp, clean_redis, start_worker, transactional_db
):
    stranded_reports_job()
    run_checks_on_worker()
    wait_for(lambda: smtp.received(), what="the FAILING mail")
    [failing] = smtp.received()
    assert failing["To"] == "ops@example.com" and failing["From"] == "dramaturg@example.com"
    assert subject(failing).startswith("[host] FAILING: no_worker reports: 1 ready and 0 delayed messages")
    assert "Failing, seen at" in body(failing) and "/jobs/health" in body(failing)
    wait_for(lambda: HealthAlert.objects.filter(status="sent").exists(), what="the alert marked sent")

    run_checks_on_worker()  # still failing: the admins know
    assert HealthAlert.objects.count() == 1 and len(smtp.received()) == 1

    start_worker(["reports"])  # the fix: a worker for the queue, which drains it
    wait_for(lambda: not health.run_checks().problems, what="the problem to clear")
    run_checks_on_worker()
    wait_for(lambda: len(smtp.received()) == 2, what="the RECOVERED mail")
    recovered = smtp.received()[1]
    assert subject(recovered).startswith("[host] RECOVERED: no_worker reports: 1 ready")
    assert "Recovered at" in body(recovered)
    run_checks_on_worker()
    assert HealthAlert.objects.count() == 2 and len(smtp.received()) == 2


def test_check_runs_at_the_same_moment_send_one_mail(worker, smtp, clean_redis, start_worker, transactional_db):
    start_worker(["default"], threads=4)  # with the session's worker: 6 threads take the checks at once
    stranded_reports_job()
    run_checks_on_worker(times=6)
    wait_for(lambda: HealthAlert.objects.filter(status="sent").exists(), what="the alert sent")
    assert HealthAlert.objects.count() == 1
    assert [subject(m).split(":")[0] for m in smtp.received()] == ["[host] FAILING"]


def test_an_alert_whose_job_redis_lost_is_sent_from_its_row(worker, smtp, clean_redis, transactional_db):
    stranded_reports_job()
    # Recorded ten minutes ago, and its job gone with Redis (a restart without persistence).
    lost = alerts.changes(health.run_checks().problems, {}, timezone.now(), 3600)
    [alert] = alerts.record(lost, lambda alert_id: None, now=timezone.now() - timedelta(minutes=10))
    run_checks_on_worker()
    wait_for(lambda: smtp.received(), what="the owed mail")
    wait_for(lambda: HealthAlert.objects.get(pk=alert.pk).status == "sent", what="the alert marked sent")
    run_checks_on_worker()
    assert [subject(m).split(":")[1].strip() for m in smtp.received()] == ["no_worker reports"]
    assert HealthAlert.objects.count() == 1


def test_send_health_alert_in_process_mails_admins_once(settings, transactional_db, clean_redis):
    settings.EMAIL_SUBJECT_PREFIX = "[site] "
    problem = health.Problem("outbox", "emails", "3 outbox rows pending")
    [alert] = alerts.record(alerts.changes([problem], {}, timezone.now(), 3600), lambda alert_id: None)
    send_health_alert.fn(alert.pk)
    send_health_alert.fn(alert.pk)  # a duplicate of the job finds it sent
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("[site] FAILING: outbox emails: 3 outbox rows pending", ["ops@example.com"])
    ]
    assert HealthAlert.objects.get().status == "sent"
