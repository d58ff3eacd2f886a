"""The console inside the reference project, in English and Korean: the site's header (its language menu) around
the console, the admin index's links to it and the report workflow page. The console's own pages in both
languages are the package's tests (packages/django-dramaturg/tests/worker/test_console_i18n.py)."""

import uuid
from datetime import date

import pytest
from django.test import Client

from accounts.models import User
from reports.models import Report, ReportChunk

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(clean_redis) -> Client:
    [user] = User.objects.bulk_create([User(email="ops@example.com", is_staff=True, is_superuser=True)])
    client = Client()
    client.force_login(user)
    return client


def test_the_language_menu_switches_the_operator_pages(staff):
    page = staff.get("/jobs/").content.decode()
    assert 'id="language-form"' in page and 'action="/i18n/setlang/"' in page  # the site's menu, in the header
    assert 'href="/reports/"' in page  # the site's link in the console's menu (project/templates/dramaturg/)
    response = staff.post("/i18n/setlang/", {"language": "ko", "next": "/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    page = staff.get("/jobs/").content.decode()
    assert (
        '<html lang="ko">' in page and "처리량, 최근 1시간" in page and '<option value="ko" lang="ko" selected>' in page
    )


def test_the_admin_index_and_the_report_workflow_in_korean_and_english(staff):
    run_id = uuid.uuid4()
    report = Report.objects.create(kind="daily", period_start=date(2026, 11, 30), status="running", run_id=run_id)
    ReportChunk.objects.create(report=report, run_id=run_id, index=0, first_user_id=1, end_user_id=41, done=True)
    ReportChunk.objects.create(report=report, run_id=run_id, index=1, first_user_id=41, end_user_id=81)
    for url, korean, english in [
        ("/admin/", "백그라운드 작업", "Background jobs"),
        (f"/reports/{report.pk}/run/", "청크 상태:", "Chunk states:"),
    ]:
        ko = staff.get(url, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5").content.decode()
        en = staff.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert korean in ko and english not in ko and english in en and korean not in en
