"""A report page, as a staff user sees it in headless Chromium (in English and in Korean); its CSV download."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from playwright.sync_api import expect

from accounts.models import User
from harness.browser import browser_page, log_in, screenshot
from harness.processes import wait_for
from reports.models import Report
from reports.periods import today
from reports.tasks import request_report

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def built_report(monkeypatch, start_worker, email: str, *, users: int, days: int, seed: int, ago: int):
    """Demo data, a staff user (password "analyst-password-1") and a daily report `ago` days back,
    built by a real reports worker."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    call_command("seed_demo", users=users, days=days, seed=seed)
    staff = User(email=email, is_staff=True, is_superuser=True)
    staff.set_password("analyst-password-1")
    User.objects.bulk_create([staff])
    start_worker(["reports"])
    report, _ = request_report(Report.Kind.DAILY, today() - timedelta(days=ago))
    wait_for(lambda: Report.objects.get(pk=report.pk).status == "done", timeout=60, what="the report")
    report.refresh_from_db()
    return staff, report


def test_report_page_tables_charts_and_csv(live, start_worker, clean_redis, monkeypatch):
    staff, report = built_report(monkeypatch, start_worker, "analyst@example.com", users=200, days=14, seed=9, ago=3)

    with browser_page(live.url) as page:
        log_in(page, staff.email, "analyst-password-1", "/reports/")
        page.click(f"text={report}")
        assert page.inner_text("#status") == "Done"
        assert page.inner_text("#signups") == str(report.result["signups"])
        expect(page.locator("svg.chart")).to_have_count(3)
        assert page.locator("svg.chart rect.ok").count() > 0
        expect(page.locator("#hours tbody tr")).to_have_count(24)
        screenshot(page, "report-daily")

    client = Client()
    client.force_login(User.objects.get(email=staff.email))
    response = client.get(f"/reports/{report.pk}.csv")
    assert response["Content-Type"] == "text/csv"
    rows = dict(csv.reader(io.StringIO(response.content.decode())))
    assert rows["signups"] == str(report.result["signups"])
    assert rows["email_delay_p95_s"] == str(report.result["email_delay"]["p95"])
    assert Client().get(f"/reports/{report.pk}/").status_code == 302  # staff only


def test_report_page_in_korean(live, start_worker, clean_redis, monkeypatch):
    """A staff user who chose Korean in the language menu reads a report a real worker built."""
    staff, report = built_report(monkeypatch, start_worker, "bunseok@example.com", users=120, days=10, seed=4, ago=2)
    with translation.override("ko"):
        title = str(report)
    assert title.startswith("일간 활동 ")

    with browser_page(live.url) as page:
        log_in(page, staff.email, "analyst-password-1", "/reports/")
        page.select_option("#language-form select", "ko")
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        expect(page.locator("h1")).to_have_text("보고서")
        page.click(f"text={title}")
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("#status")).to_have_text("완료")
        expect(page.locator("#hours thead th")).to_have_text(["시각", "가입", "로그인"])
        expect(page.locator("#delays thead th")).to_have_text(["지연 시간", "이메일"])
        expect(page.locator("h2")).to_contain_text(["환영 이메일 지연 시간", "시간대별 가입", "시간대별 로그인"])
        charts = page.locator("svg.chart")
        expect(charts).to_have_count(3)
        expect(charts.nth(0)).to_contain_text("가입부터 환영 이메일까지 걸린 시간(초)")
        expect(charts.nth(0)).to_contain_text("0~10초")
        expect(charts.nth(1).locator("text").first).to_have_text("가입")  # the unit above the plot
        expect(charts.nth(1)).to_contain_text("시각 (Asia/Seoul)")
        expect(charts.nth(2).locator("text").first).to_have_text("로그인")
        assert page.locator("svg.chart rect.ok").count() > 0
        assert "Signups" not in page.inner_text("main")
        screenshot(page, "report-ko")
