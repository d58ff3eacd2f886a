"""Django's error mail to ADMINS goes through the outbox, throttled, never inside the request (issue 19,
item 8): recorded on the handler's own thread and database connection, sent once by a worker."""

import logging
import sqlite3

import pytest
from django.core import mail
from django.db import connection
from django.test import Client

from dramaturg import errormail, log
from dramaturg.health import Problem, Report
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.views import monitoring
from harness.dramaturg_settings import set_dramaturg
from harness.processes import wait_for

pytestmark = [pytest.mark.urls("tests.broken_urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def production(settings, clean_redis, outbox_mailers):
    settings.DEBUG = False  # Django mails ADMINS only with DEBUG off
    settings.ADMINS = ["ops@example.com"]
    yield Client(raise_request_exception=False)
    # Every mail handed over is recorded or dropped before the test's rows are flushed.
    wait_for(lambda: log.pending() == 0, what="the error mail recorder to finish")


def recorded(count: int = 1) -> list[OutboxEmail]:
    rows = list(OutboxEmail.objects.order_by("id"))
    return rows if len(rows) >= count else []


def test_a_server_error_records_one_mail_with_its_outbox_job_and_sends_nothing_in_the_request(production):
    response = production.get("/test/broken/")
    assert response.status_code == 500
    assert mail.outbox == []  # nothing was sent in the request
    [row] = wait_for(recorded, what="the error mail to be recorded")
    assert row.subject.endswith("] ERROR (EXTERNAL IP): Internal Server Error: /test/broken/")  # after the prefix
    assert row.to == ["ops@example.com"]  # Django's mail_admins, through the outbox backend
    assert "RuntimeError at /test/broken/\na bug in a view" in row.body
    wait_for(lambda: OutboxMessage.objects.filter(actor_name="send_outbox_email", args=[row.pk]).exists())
    assert mail.outbox == []


def test_it_is_recorded_while_the_requests_transaction_is_broken(production):
    response = production.get("/test/broken-transaction/")
    assert response.status_code == 500 and response.content == b"logged inside a broken transaction"
    [row] = wait_for(recorded, what="the error mail to be recorded")
    assert "no_such_table" in row.body


def test_the_same_error_is_mailed_once_per_interval_and_a_flood_is_capped(production, settings):
    set_dramaturg(settings, "ERROR_MAIL", MAX=3)
    for _ in range(5):
        assert production.get("/test/broken/").status_code == 500
    wait_for(recorded, what="the first error mail")
    for n in range(6):  # distinct paths: distinct subjects
        production.get(f"/test/broken/?n={n}")  # the same subject: the path without its query
        production.get(f"/nothing-here-{n}/")  # 404s are not errors: no mail
    for n in range(6):
        errormail.record(f"ERROR: distinct {n}", "body")
    assert OutboxEmail.objects.count() == 3
    assert OutboxEmail.objects.filter(subject__endswith="/test/broken/").count() == 1


def test_with_no_admins_nothing_is_recorded(production, settings):
    settings.ADMINS = []
    assert production.get("/test/broken/").status_code == 500
    assert production.get("/test/broken-transaction/").status_code == 500
    assert not OutboxEmail.objects.exists()


@pytest.mark.skipif("connection.vendor != 'sqlite'")
def test_a_locked_database_never_holds_the_request(production):
    """Another process holds SQLite's write lock while the request fails: the request answers at once
    (a handler that wrote in the request would wait for the lock, then drop the mail), and the mail
    is recorded once the lock is released."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert production.get("/test/broken/").status_code == 500
        assert not recorded()
    finally:
        holder.rollback()
        holder.close()
    wait_for(recorded, what="the error mail, once the lock is released")


def test_a_failing_health_probe_mails_nobody_while_a_server_error_still_mails_admins(production, settings, monkeypatch):
    """Django mails ADMINS each 5xx answer (DEBUG off), here through the outbox (dramaturg.log);
    /jobs/health answers 503 on every probe while a check fails, so the handler leaves out 503s: the
    health alerts tell of it, once."""
    dead = Problem("dead_letters", "emails", "3 dead letters in the last 15 min (more than 0)")
    token = "probe-token-0123456789"
    set_dramaturg(settings, "CONSOLE", METRICS_TOKEN=token)
    monkeypatch.setattr(monitoring.health, "run_checks", lambda: Report([dead], ["dead_letters"]))
    for _ in range(3):
        assert production.get("/jobs/health", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 503
    logging.getLogger("django.request").error("Internal Server Error: /x", extra={"status_code": 500})
    [row] = wait_for(recorded, what="the error mail to be recorded")
    assert row.subject.endswith("] ERROR: Internal Server Error: /x")
    assert mail.outbox == []  # sent by a worker, never in the request
