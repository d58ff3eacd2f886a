"""A staff user in a real browser: find a failed email (a host's notice) among many, read it, requeue it,
see it delivered."""

import pytest
from playwright.sync_api import expect

from harness import store_probe
from harness.browser import browser_page, log_in, screenshot
from harness.dead_letters import failed_emails, poison
from harness.fixtures import STAFF_PASSWORD
from harness.processes import wait_for
from host.demo.models import Notice
from host.demo.tasks import notify

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_find_read_requeue_and_deliver_in_the_dashboard(live, staff, worker, smtp):
    [notice] = failed_emails(smtp, notify, ["needle@example.com"])
    poison(60)
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, "/jobs/")
        page.wait_for_selector('tr[data-queue="emails"]')
        assert page.inner_text('tr[data-queue="emails"] td:nth-child(6)') == "61"  # the dead column
        page.wait_for_function("document.getElementById('live').dataset.refreshedAt", timeout=10_000)
        screenshot(page, "dashboard-overview")

        page.click("text=Dead letters")
        expect(page.locator("#dead-messages tbody tr")).to_have_count(50)  # the first page of 61
        page.select_option("select[name=exception]", "SMTPDataError")
        page.click("#filters button[type=submit]")
        rows = page.locator("#dead-messages tbody tr")
        expect(rows).to_have_count(1)
        screenshot(page, "dead-letters-filtered")
        rows.first.locator("a").click()
        assert "SMTPDataError" in page.inner_text("#traceback")
        assert "554" in page.inner_text("#reason")
        screenshot(page, "dead-letter-detail")

        smtp.handler.reply = None  # the mail server is fixed
        page.click("button[value='requeue:one']")
        page.click("#confirm")
        page.wait_for_selector("text=Requeued 1 message.")
        assert "(60)" in page.inner_text("h1")  # only the 60 poison letters are left
        expect(page.locator("select[name=exception] option", has_text="SMTPDataError")).to_have_count(0)
        screenshot(page, "dead-letters-after-requeue")
    wait_for(lambda: smtp.received("needle@example.com"), what="the requeued email")
    wait_for(lambda: Notice.objects.get(pk=notice.pk).status == "sent", what="the notice sent")


def run_action(page, tick: str, button: str, outcome: str) -> None:
    """Tick, press the action button, confirm; then the list shows the outcome and no rows."""
    page.check(tick)
    page.click(f"button[value='{button}']")
    page.click("#confirm")
    page.wait_for_selector(f"text={outcome}")
    expect(page.locator("#dead-messages tbody tr[data-message-id]")).to_have_count(0)


def test_requeue_and_delete_from_the_django_admin(live, staff, worker, smtp):
    """The admin's "Failed messages" is the same list, with the same confirmation and action."""
    failed_emails(smtp, notify, ["admin-needle@example.com"])
    poison(3)
    smtp.handler.reply = None
    with browser_page(live.url) as page:
        log_in(page, staff.email, STAFF_PASSWORD, "/admin/")
        page.click("a:text-is('Failed messages')")
        page.wait_for_url("**/admin/dramaturg/failedmessage/")
        expect(page.locator("#dead-messages tbody tr[data-message-id]")).to_have_count(4)
        screenshot(page, "admin-failed-messages")

        page.click("#groups tr:has-text('SMTPDataError') a")
        expect(page.locator("#dead-messages tbody tr[data-message-id]")).to_have_count(1)
        run_action(page, "input[name=refs]", "requeue:selected", "Requeued 1 message.")
        assert "/admin/dramaturg/failedmessage/" in page.url  # back where the operator started

        page.goto("/admin/dramaturg/failedmessage/")
        run_action(page, "input[aria-label='select all']", "delete:selected", "Deleted 3 messages.")
        screenshot(page, "admin-failed-messages-after")
    wait_for(lambda: smtp.received("admin-needle@example.com"), what="the email requeued from the admin")
    assert store_probe.count_dead("emails") == 0
