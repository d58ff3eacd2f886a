"""Fixtures of the reports pages' tests (unit and worker tiers): a signed-in staff client and a finished report."""

from datetime import date

import pytest
from django.test import Client

from accounts.models import User
from reports import metrics
from reports.models import Report
from tests.unit.test_reports_unit import part

KO = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def staff_client(db) -> Client:
    [staff] = User.objects.bulk_create([User(email="analyst@example.com", is_staff=True, is_superuser=True)])
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def done_report(db) -> Report:
    result = metrics.merge(
        [part(signups=5, sent=4, failed=1, delays={3: 2, 45: 2}, logins=7, active=3, cohort=4, retained=2, hour=9)]
    )
    return Report.objects.create(
        kind=Report.Kind.DAILY,
        period_start=date(2026, 3, 8),
        status=Report.Status.DONE,
        chunks_total=1,
        chunks_done=1,
        duration_s=1.5,
        result=result,
    )
