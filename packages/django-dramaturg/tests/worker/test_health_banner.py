"""The health banner on every console page: nothing while the checks pass; a real failing check (an outbox row
the relay has not sent for longer than allowed) named in the page's language and linked to what fails; an app's
own check with its own words and page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from dramaturg import banner, conf
from dramaturg.health import Problem
from dramaturg.models import OutboxMessage
from harness.dramaturg_settings import set_dramaturg
from harness.processes import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(clean_redis) -> Client:
    User: Any = get_user_model()
    client = Client()
    client.force_login(User.objects.create_user("ops", "ops@example.com", "password", is_staff=True))
    return client


def an_outbox_row_stuck_for_too_long() -> None:
    """A row no relay has dispatched, older than HEALTH["OUTBOX_AGE_S"] (a worker cannot mend this one)."""
    row = OutboxMessage.objects.create(queue_name="emails", actor_name="no_such_actor")
    age = timedelta(seconds=conf.settings.HEALTH.OUTBOX_AGE_S + 60)
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)


def app_check() -> list[Problem]:
    """An app's own check, as HEALTH["EXTRA_CHECKS"] names it."""
    return [Problem("owed_things", "things", "3 things owed", text="Three things are owed.", url="/things/")]


def test_no_banner_while_every_check_passes(staff):
    assert 'id="health-banner"' not in staff.get("/jobs/schedules/").content.decode()


def test_a_failing_check_shows_on_every_page_linked_to_what_fails(staff):
    an_outbox_row_stuck_for_too_long()  # the outbox check fails
    limit = conf.settings.HEALTH.OUTBOX_AGE_S
    for url in ("/jobs/", "/jobs/dead/", "/jobs/actors/", "/jobs/schedules/"):
        html = staff.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'id="health-banner"' in html, url
        assert '<a href="/jobs/health" title="outbox emails: 1 outbox rows pending' in html
        assert f"Outbox of queue emails: rows pending for more than {limit} s" in html
    korean = staff.get("/jobs/retries/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "실패하는 상태 점검 1건:" in korean and "emails 큐의 아웃박스:" in korean


def test_a_check_that_starts_failing_shows_once_the_kept_checks_are_older_than_keep_s(staff, monkeypatch):
    monkeypatch.setattr(banner, "REPORT", banner.Kept(banner.REPORT.compute, 2.0))  # KEEP_S, shorter
    assert 'id="health-banner"' not in staff.get("/jobs/schedules/").content.decode()  # healthy, kept
    an_outbox_row_stuck_for_too_long()
    wait_for(lambda: 'id="health-banner"' in staff.get("/jobs/schedules/").content.decode(), timeout=15,
             what="the banner to show the failing check")  # fmt: skip


def test_live_re_reads_of_a_page_run_no_checks(staff):
    an_outbox_row_stuck_for_too_long()
    assert 'id="health-banner"' not in staff.get("/jobs/", HTTP_X_REQUESTED_WITH="fetch").content.decode()
    assert banner.REPORT._at is None  # nothing ran
    assert 'id="health-banner"' in staff.get("/jobs/").content.decode()


def test_an_apps_check_shows_its_own_words_and_page(staff, settings):
    set_dramaturg(settings, "HEALTH", EXTRA_CHECKS=[f"{__name__}.app_check"])
    html = staff.get("/jobs/").content.decode()
    link = '<a href="/things/" title="owed_things things: 3 things owed" data-check-url>Three things are owed.</a>'
    assert link in html
    assert set(staff.get("/jobs/health").json()["problems"][0]) == {"check", "subject", "message"}  # unchanged JSON
