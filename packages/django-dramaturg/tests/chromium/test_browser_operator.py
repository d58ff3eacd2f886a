"""An operator in a real browser: finds the slowest actor and when it became slow, pauses the emails
queue during an SMTP incident, sees jobs wait, resumes, retries the waiting retries now, kills one;
plus the bulk-action progress bar. Screenshots of each page. (The host's notices are the emails.)"""

import re

import pytest
from integration.test_operator import owed_notices, send_delayed_retry
from playwright.sync_api import expect

from dramaturg.store import keys
from dramaturg.store.connection import client as redis_client
from harness.browser import browser_page, log_in, screenshot
from harness.dead_letters import poison
from harness.dramaturg_settings import set_dramaturg
from harness.fixtures import STAFF_PASSWORD
from harness.processes import wait_for
from harness.redis_monitor import paused_checks, redis_monitor
from host.demo.tasks import notify

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_slowest_actor_pause_resume_retry_now_and_kill_in_the_browser(live, staff, worker, smtp, start_worker):
    start_worker(["emails"], APP_VERSION="v2.0-slow-smtp")  # the deploy that made emails slow
    smtp.handler.delay = 0.4
    for n in range(3):
        notify(f"slow{n}@example.com")
    wait_for(lambda: len(smtp.received()) >= 3, what="three slow emails")
    poison(2)
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, "/jobs/actors/")
        wait_for(
            lambda: page.reload() or page.locator("tr[data-actor='send_notice']").count(),
            what="the actor's published metrics",
        )
        first = page.locator("#actors tbody tr").first
        assert first.get_attribute("data-actor") == "send_notice"  # the slowest p95 comes first
        # Each send waits 0.4 s for the mail server: a duration of that order (2.4 s on a loaded machine).
        assert re.fullmatch(r"[4-9]\d\d ms|\d+\.\d s", first.locator("td.p95").inner_text())
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
        notify("during-incident@example.com")
        expect(page.locator("tr[data-queue='emails'] td:nth-child(2)")).to_have_text("1", timeout=10_000)
        screenshot(page, "overview-paused")
        assert not smtp.received("during-incident@example.com")

        # Fixed: resume; the waiting email goes out.
        page.click("tr[data-queue='emails'] button[value=resume]")
        page.wait_for_selector("text=Resumed queue emails.")
        wait_for(lambda: smtp.received("during-incident@example.com"), what="the email after resume")

        # Retries that failed during the incident wait for their backoff: retry one now, kill another.
        now_notice, kill_notice = owed_notices("retry-me@example.com", "kill-me@example.com")
        send_delayed_retry(now_notice, delay_ms=600_000)
        send_delayed_retry(kill_notice, delay_ms=600_000, retries=5)
        wait_for(lambda: redis_client().llen(keys.delayed_queue_key("emails")) == 0, what="the worker to hold them")
        page.click("header >> text=Retries")
        expect(page.locator("#retry-messages tbody tr[data-message-id]")).to_have_count(2)
        screenshot(page, "retries")
        row = page.locator("#retry-messages tbody tr[data-message-id]", has_text=f"({now_notice.pk})")
        row.locator("button[value='retry_now:one']").click()
        page.click("#confirm")
        page.wait_for_selector("text=Retried now 1 message.")
        wait_for(lambda: smtp.received("retry-me@example.com"), what="the email retried now")
        row = page.locator("#retry-messages tbody tr[data-message-id]", has_text=f"({kill_notice.pk})")
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


def test_bulk_progress_page(live, staff, worker, smtp, settings):
    set_dramaturg(settings, "CONSOLE", BULK_INLINE_MAX=10)
    poison(40)
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, "/jobs/dead/?actor=no_such_actor")
        page.click("button[value='delete:matching']")
        expect(page.locator("main")).to_contain_text("runs as a background job")
        page.click("#confirm")
        page.wait_for_url("**/jobs/bulk/*/")
        expect(page.locator("#status")).to_have_text("Done", timeout=20_000)
        expect(page.locator("#count")).to_have_text("40")
        assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
        screenshot(page, "bulk")
