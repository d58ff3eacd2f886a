"""An operator in a real browser: finds the slowest actor and when it became slow, pauses the emails
queue during an SMTP incident, sees jobs wait, resumes, retries the waiting retries now, kills one;
plus the bulk-action progress bar and a report run's workflow; a staff user who switches to Korean and
pauses and resumes a queue there. Screenshots of each page."""

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import User
from dramaturg.store import keys
from dramaturg.store.connection import client as redis_client
from harness.browser import browser_page, log_in, screenshot
from harness.dramaturg_settings import set_dramaturg
from harness.processes import wait_for
from tests.chromium.conftest import PASSWORD
from harness.dead_letters import poison
from tests.integration.test_dashboard import redis_monitor
from tests.integration.test_operator import paused_checks, send_delayed_retry, welcome_users

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_slowest_actor_pause_resume_retry_now_and_kill_in_the_browser(live, staff, worker, smtp, start_worker):
    start_worker(["emails"], APP_VERSION="v2.0-slow-smtp")  # the deploy that made emails slow
    smtp.handler.delay = 0.4
    for n in range(3):
        User.objects.create_user(f"slow{n}@example.com", "correct-horse-battery-staple")
    wait_for(lambda: len(smtp.received()) >= 3, what="three slow emails")
    poison(2)
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/jobs/actors/")
        wait_for(
            lambda: page.reload() or page.locator("tr[data-actor='send_welcome_email']").count(),
            what="the actor's published metrics",
        )
        first = page.locator("#actors tbody tr").first
        assert first.get_attribute("data-actor") == "send_welcome_email"  # the slowest p95 comes first
        assert "ms" in first.locator("td.p95").inner_text()
        screenshot(page, "actors")
        first.locator("a").first.click()
        expect(page.locator("#runtime-chart .deploy-marker", has_text="v2.0-slow-smtp")).to_have_count(1)
        expect(page.locator("#runtime-chart")).to_contain_text("time (Asia/Seoul)")
        screenshot(page, "actor")

        # The SMTP incident: pause the emails queue; a signup's email waits.
        page.goto("/jobs/")
        with redis_monitor() as commands:
            page.click("tr[data-queue='emails'] button[value=pause]")
            page.wait_for_selector("text=Paused queue emails.")
            since = len(commands)
            wait_for(lambda: paused_checks(commands, "emails", since) >= 2, what="the consumers to see the pause")
        expect(page.locator("tr[data-queue='emails'] .pill")).to_have_text("paused")
        User.objects.create_user("during-incident@example.com", "correct-horse-battery-staple")
        expect(page.locator("tr[data-queue='emails'] td:nth-child(2)")).to_have_text("1", timeout=10_000)
        screenshot(page, "overview-paused")
        assert not smtp.received("during-incident@example.com")

        # Fixed: resume; the waiting email goes out.
        page.click("tr[data-queue='emails'] button[value=resume]")
        page.wait_for_selector("text=Resumed queue emails.")
        wait_for(lambda: smtp.received("during-incident@example.com"), what="the email after resume")

        # Retries that failed during the incident wait for their backoff: retry one now, kill another.
        now_user, kill_user = welcome_users("retry-me@example.com", "kill-me@example.com")
        send_delayed_retry(now_user, delay_ms=600_000)
        send_delayed_retry(kill_user, delay_ms=600_000, retries=5)
        wait_for(lambda: redis_client().llen(keys.delayed_queue_key("emails")) == 0, what="the worker to hold them")
        page.click("header >> text=Retries")
        expect(page.locator("#retry-messages tbody tr[data-message-id]")).to_have_count(2)
        screenshot(page, "retries")
        row = page.locator("#retry-messages tbody tr[data-message-id]", has_text=f"({now_user.pk})")
        row.locator("button[value='retry_now:one']").click()
        page.click("#confirm")
        page.wait_for_selector("text=Retried now 1 message.")
        wait_for(lambda: smtp.received("retry-me@example.com"), what="the email retried now")
        row = page.locator("#retry-messages tbody tr[data-message-id]", has_text=f"({kill_user.pk})")
        row.locator("button[value='kill:one']").click()
        page.click("#confirm")
        page.wait_for_selector("text=Killed 1 message.")
        expect(page.locator("#retry-messages tbody tr[data-message-id]")).to_have_count(0)
        page.goto("/jobs/dead/?exception=KilledByOperator")
        expect(page.locator("#dead-messages tbody tr[data-message-id]")).to_have_count(1)
        expect(page.locator("#dead-messages")).to_contain_text("killed by an operator")

        # Where did a message go? The finished one, by id.
        message_id = page.locator("#dead-messages tbody tr[data-message-id]").get_attribute("data-message-id")
        page.fill("header input[name=id]", message_id)
        page.press("header input[name=id]", "Enter")
        expect(page.locator("#sightings tr[data-state='dead']")).to_have_count(1)
        screenshot(page, "message")

        page.emulate_media(color_scheme="dark")
        page.goto("/jobs/")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 28)"
        assert page.locator("link[rel=icon]").get_attribute("href").endswith("favicon.svg")
        screenshot(page, "overview-dark")
    assert not smtp.received("kill-me@example.com")


def test_bulk_progress_and_report_workflow_pages(live, staff, worker, smtp, start_worker, settings):
    from reports.models import Report
    from reports.tasks import request_report

    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=10)
    poison(40)
    User.objects.bulk_create([User(email=f"wf{n}@example.com") for n in range(100)])
    start_worker(["reports"], TEST_FAIL_CHUNKS="1")
    report, _ = request_report(Report.Kind.DAILY, date.today() - timedelta(days=1))
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/jobs/dead/?actor=no_such_actor")
        page.click("button[value='delete:matching']")
        expect(page.locator("main")).to_contain_text("runs as a background job")
        page.click("#confirm")
        page.wait_for_url("**/jobs/bulk/*/")
        expect(page.locator("#status")).to_have_text("Done", timeout=20_000)
        expect(page.locator("#count")).to_have_text("40")
        assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
        screenshot(page, "bulk")

        wait_for(lambda: Report.objects.get(pk=report.pk).status == "failed", timeout=60, what="the report to fail")
        page.goto(f"/reports/{report.pk}/run/")
        expect(page.locator("#chunks tr[data-state='dead']")).to_have_count(1)
        expect(page.locator("#chunks tr[data-state='done']")).to_have_count(2)
        screenshot(page, "workflow")
        page.click("#chunks tr[data-state='dead'] a.dead")
        expect(page.locator("#reason")).to_contain_text("chunk 1 fails on purpose")


def test_staff_switch_to_korean_and_pause_and_resume_a_queue(live, staff, worker):
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/jobs/")
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
