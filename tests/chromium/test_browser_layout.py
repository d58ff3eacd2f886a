"""Every console page in a real browser at 1280 px and 390 px, in English and Korean: nothing is wider than the
window, the health banner shows a failing check and links to what fails; dark mode on every kind of page; the
admin's one job section with read-only audit entries; a screenshot of each.

`UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/chromium/test_browser_layout.py` writes the
screenshots to docs/screenshots/console/ (committed); otherwise they go to test-artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from dramatiq import Message, get_broker
from playwright.sync_api import expect

from accounts.models import User
from dramaturg.banner import KEEP_S
from dramaturg.models import AuditEntry, BulkAction
from dramaturg.store import queues
from harness.browser import SCREENSHOTS, browser_page, log_in
from harness.dead_letters import failed_emails, poison
from harness.fixtures import STAFF_PASSWORD as PASSWORD
from harness.processes import wait_for
from reports.models import Report

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def failed_welcome_emails(smtp, emails: list[str]) -> list[User]:
    """Sign users up while the SMTP server refuses mail; their welcome emails die."""
    return failed_emails(smtp, lambda email: User.objects.create_user(email, PASSWORD), emails)


def send_delayed_retry(user: User, delay_ms: int, retries: int = 2) -> Message:
    """A welcome email that failed `retries` times and waits `delay_ms` for its next attempt."""
    message: Message[Any] = Message(
        queue_name="emails", actor_name="send_welcome_email", args=(user.pk,), kwargs={}, options={"retries": retries}
    )
    return get_broker().enqueue(message, delay=delay_ms)


WIDTHS = {"wide": (1280, 800), "phone": (390, 844)}
LANGUAGES = ("en", "ko")
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


def screenshot_dir() -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        return Path(settings.BASE_DIR) / "docs" / "screenshots" / "console"
    return SCREENSHOTS / "console"


def console_pages(page, report: Report) -> dict[str, str]:
    """name -> URL of every console page (and the reports pages in its layout), with the ids of a real dead
    letter and message."""
    page.goto("/jobs/dead/")
    row = page.locator("#dead-messages tbody tr[data-message-id]").first
    message_id = row.get_attribute("data-message-id")
    ref = row.locator("input[name=refs]").get_attribute("value")  # <queue>/<redis id>: the old letter page
    bulk = BulkAction.objects.create(action="requeue", status="running", total=400, requested=120, count=118)
    return {
        "overview": "/jobs/",
        "queue": "/jobs/queues/emails/",
        "actors": "/jobs/actors/",
        "actor": "/jobs/actors/send_welcome_email/",
        "retries": "/jobs/retries/",
        "dead-letters": "/jobs/dead/",
        "dead-letter": f"/jobs/dead/{ref}/",
        "message": f"/jobs/messages/{message_id}/",
        "search": "/jobs/search/?error=SMTPDataError",
        "workers": "/jobs/workers/",
        "history": "/jobs/history/",
        "schedules": "/jobs/schedules/",
        "emails": "/jobs/emails/",
        "bulk": f"/jobs/bulk/{bulk.pk}/",
        "reports": "/reports/",
        "report": f"/reports/{report.pk}/",
        "report-run": f"/reports/{report.pk}/run/",
    }


def test_every_console_page_fits_at_1280_and_390_px_in_english_and_korean(live, staff, worker, smtp, done_report):
    failed_welcome_emails(smtp, ["layout-needle@example.com"])  # a dead letter: the health check fails
    poison(2)
    [waiting] = User.objects.bulk_create([User(email="layout-retrying@example.com")])  # no signal: no email yet
    send_delayed_retry(waiting, delay_ms=3_600_000)
    wait_for(lambda: queues.queue_counts("emails").delayed == 1, what="the waiting retry")
    AuditEntry.objects.create(
        user_email=staff.email, action="kill", scope="one", requested=1, count=1, refs="emails/1-0"
    )
    out = screenshot_dir()
    out.mkdir(parents=True, exist_ok=True)
    too_wide = []
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/jobs/")
        pages = console_pages(page, done_report)
        admin_pages = {
            "admin": "/admin/",
            "admin-failed-messages": "/admin/dramaturg/failedmessage/",
            "admin-audit": "/admin/dramaturg/auditentry/",
        }
        for language in LANGUAGES:
            page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live.url}])
            for width_name, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                for name, url in {**pages, **admin_pages}.items():
                    page.goto(url)
                    expect(page.locator("html")).to_have_attribute("lang", language)
                    if name in pages:
                        overflow = page.evaluate(OVERFLOW)
                        if overflow > 0:
                            too_wide.append(f"{name} {language} {width}px: {overflow}px too wide")
                        expect(page.locator("#health-banner")).to_be_visible()
                    if name.startswith("admin") and width_name == "phone":
                        continue  # the admin's own layout: one screenshot, wide
                    if name in ("actor", "report") and width_name == "phone":
                        page.locator("svg.chart").first.scroll_into_view_if_needed()  # show how a chart fits
                    page.screenshot(path=str(out / f"{name}-{language}-{width_name}.png"))
        # Dark everywhere: the console, the site's own pages and the admin follow the system's setting.
        page.emulate_media(color_scheme="dark")
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "en", "url": live.url}])
        page.set_viewport_size({"width": 1280, "height": 800})
        for name, url in {"overview": "/jobs/", "home": "/", "admin": "/admin/"}.items():
            page.goto(url)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background not in ("rgb(255, 255, 255)", "rgb(246, 247, 249)"), (name, background)
            expect(page.locator("link[rel=icon]")).to_have_count(0 if name == "admin" else 1)  # admin: /favicon.ico
            page.screenshot(path=str(out / f"{name}-en-wide-dark.png"))
    assert not too_wide


def test_the_health_banner_names_a_failing_check_and_links_to_it(live, staff, worker, smtp):
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/jobs/")
        expect(page.locator("#health-banner")).to_have_count(0)  # all checks pass

        failed_welcome_emails(smtp, ["banner@example.com"])  # one dead letter in the window: dead_letters fails
        banner = page.locator("#health-banner")
        wait_for(  # the checks are kept for banner.KEEP_S per process
            lambda: page.goto("/jobs/schedules/") and banner.count() == 1,
            timeout=KEEP_S + 10,
            what="the banner to name the failing check",
        )
        expect(banner).to_contain_text("Queue emails: more than 0 dead letters in the last 15 min.")
        banner.locator("a", has_text="Queue emails").click()
        page.wait_for_url("**/jobs/dead/?queue=emails")
        expect(page.locator("#dead-messages tbody tr[data-message-id]")).to_have_count(1)

        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "ko", "url": live.url}])
        page.goto("/jobs/actors/")
        expect(page.locator("#health-banner")).to_contain_text("emails 큐")


def test_the_admin_has_one_job_section_and_read_only_audit_entries(live, staff, worker, smtp):
    entry = AuditEntry.objects.create(
        user_email=staff.email, action="kill", scope="selected", requested=2, count=2, refs="emails/1-0\nemails/2-0"
    )
    with browser_page(live.url) as page:
        log_in(page, staff.email, PASSWORD, "/admin/")
        expect(page.locator("caption", has_text="Background jobs")).to_have_count(1)
        expect(page.locator("caption", has_text="Reports")).to_have_count(1)
        expect(page.locator("a", has_text="Job system")).to_have_count(0)

        page.click("a:text-is('Failed messages')")
        expect(page.locator("#site-name")).to_be_visible()  # the admin's header, not the console's
        expect(page.locator(".breadcrumbs")).to_contain_text("Failed messages")

        page.goto("/admin/dramaturg/auditentry/")
        row = page.locator("#result_list tbody tr").first
        expect(row).to_contain_text("emails/1-0")
        expect(row).to_contain_text("KST")
        expect(page.locator("select[name=action] option[value=delete_selected]")).to_have_count(0)
        expect(page.locator("#content .object-tools .addlink")).to_have_count(0)  # no "Add audit entry"
        icon = page.request.get(f"{live.url}/favicon.ico")  # the admin names no icon: browsers ask for this
        assert icon.ok and icon.headers["content-type"] == "image/svg+xml"
        page.goto("/admin/accounts/user/")  # any date-time of the admin carries its zone (project/formats/)
        expect(page.locator("#result_list tbody tr").first).to_contain_text("KST")
        page.goto(f"/admin/dramaturg/auditentry/{entry.pk}/delete/")
        assert "/delete/" not in page.url or page.locator("input[type=submit]").count() == 0
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
