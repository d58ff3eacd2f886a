"""The package's console inside the reference site, in headless Chromium: a report run's workflow page
(its dead chunk's letter one click away), and the site's language menu switching the console to Korean.
The console's own pages are the package's tests (packages/django-dramaturg/tests/chromium)."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import User
from harness.browser import browser_page, log_in, screenshot
from harness.fixtures import STAFF_PASSWORD
from harness.processes import wait_for
from reports.models import Report
from reports.periods import today
from reports.tasks import request_report

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_report_workflow_page_leads_to_the_dead_chunk(live, staff, worker, start_worker):
    User.objects.bulk_create([User(email=f"wf{n}@example.com") for n in range(100)])  # 3 chunks of 40
    start_worker(["reports"], TEST_FAIL_CHUNKS="1")
    report, _ = request_report(Report.Kind.DAILY, today() - timedelta(days=1))
    wait_for(lambda: Report.objects.get(pk=report.pk).status == "failed", timeout=60, what="the report to fail")
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, f"/reports/{report.pk}/run/")
        expect(page.locator("#chunks tr[data-state='dead']")).to_have_count(1)
        expect(page.locator("#chunks tr[data-state='done']")).to_have_count(2)
        screenshot(page, "workflow")
        page.click("#chunks tr[data-state='dead'] a.dead")
        expect(page.locator("#reason")).to_contain_text("chunk 1 fails on purpose")


def test_staff_switch_to_korean_and_pause_and_resume_a_queue(live, staff, worker):
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, "/jobs/")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.select_option("#language-form select[name=language]", "ko")  # the site's language menu
        expect(page.locator("html")).to_have_attribute("lang", "ko")
        assert page.url.endswith("/jobs/")
        expect(page.locator("main h1")).to_have_text("작업")
        expect(page.locator("header")).to_contain_text("데드 레터")
        row = page.locator("tr[data-queue='emails']")
        expect(row.locator("button[value=pause]")).to_have_text("일시 중지")
        expect(row.locator(".pill")).to_have_text("실행 중")

        row.locator("button[value=pause]").click()
        page.wait_for_selector("text=emails 큐를 일시 중지했습니다.")
        expect(row).to_have_attribute("data-paused", "yes")
        expect(row.locator(".pill")).to_have_text("일시 중지됨")
        expect(row.locator("button[value=resume]")).to_have_text("재개")
        # The figures refresh in place every 3 s: the fragment speaks Korean too.
        page.evaluate("delete document.getElementById('live').dataset.refreshedAt")
        page.wait_for_function("document.getElementById('live').dataset.refreshedAt", timeout=10_000)
        expect(row.locator(".pill")).to_have_text("일시 중지됨")
        expect(page.locator("#live h2").first).to_have_text("큐")
        screenshot(page, "overview-ko")

        row.locator("button[value=resume]").click()
        page.wait_for_selector("text=emails 큐를 재개했습니다.")
        expect(row).to_have_attribute("data-paused", "no")
        expect(row.locator(".pill")).to_have_text("실행 중")
        expect(row.locator("button[value=pause]")).to_have_text("일시 중지")
