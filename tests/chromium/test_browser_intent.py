"""An operator's intent is final, in a real browser at 1280 px and 390 px, in English and Korean: the kill of
a retrying welcome email (its last error shown on the retries list) cancels the email, the next reconciler
runs (by the real worker) send nothing, and the user's account page says it was cancelled and offers
"Send again", which sends it once. Screenshots of both pages."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Message, get_broker
from playwright.sync_api import expect

from accounts.models import EmailDelivery, User
from accounts.tasks import reconcile_deliveries
from dramaturg.store import recent
from harness.browser import browser_page, log_in, screenshot
from harness.fixtures import STAFF_PASSWORD as PASSWORD
from harness.processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CASES = [(1280, "en"), (390, "en"), (1280, "ko"), (390, "ko")]
CANCELLED = {
    "en": "Cancelled: it will not be sent unless you ask for it again",
    "ko": "취소됨: 다시 요청하지 않으면 보내지 않습니다",
}
SMTP_ERROR = "SMTPDataError: (451, b'4.3.0 Try again later')"


def retrying_welcome_email(email: str, language: str) -> User:
    """A user whose welcome email failed its first attempt (a 451) and waits 10 minutes for its retry: the
    row and the message exactly as the actor and Dramatiq's Retries leave them."""
    user = User(email=email, language=language)
    user.set_password(PASSWORD)
    User.objects.bulk_create([user])  # no signal: the test owes the email itself, already retrying
    EmailDelivery.objects.create(user=user, attempts=1, last_error=SMTP_ERROR)
    traceback = f'Traceback (most recent call last):\n  File "accounts/tasks.py", line 37, in _send\n{SMTP_ERROR}\n'
    message: Message[Any] = Message(
        queue_name="emails",
        actor_name="send_welcome_email",
        args=(user.pk,),
        kwargs={},
        options={"retries": 1, "traceback": traceback},
    )
    get_broker().enqueue(message, delay=600_000)
    return user


@pytest.mark.parametrize(("width", "language"), CASES, ids=[f"{w}px-{lang}" for w, lang in CASES])
def test_a_kill_of_a_retrying_welcome_email_cancels_it_and_the_account_page_says_so(
    live, staff, worker, smtp, width, language
):
    User.objects.filter(pk=staff.pk).update(language=language)
    user = retrying_welcome_email(f"kill-{width}-{language}@example.com", language)
    with browser_page(live.url) as page:
        page.set_viewport_size({"width": width, "height": 900})
        log_in(page, staff.email, PASSWORD, "/jobs/retries/")
        row = page.locator("#retry-messages tbody tr[data-message-id]", has_text=f"({user.pk})")
        expect(row.locator(".last-error")).to_have_text(SMTP_ERROR)
        screenshot(page, f"intent-retries-{width}-{language}")
        row.locator("button[value='kill:one']").click()
        page.click("#confirm")
        expect(row).to_have_count(0)
    delivery = EmailDelivery.objects.get(user=user)
    assert delivery.status == EmailDelivery.Status.CANCELLED

    for _ in range(2):  # the next reconciler runs, by the real worker
        run = reconcile_deliveries.send()
        wait_for(lambda run=run: recent.finished(run.message_id), what="the reconciler's run")
    assert EmailDelivery.objects.get(user=user).status == EmailDelivery.Status.CANCELLED

    with browser_page(live.url) as page:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/accounts/login/")
        page.fill("#id_username", user.email)
        page.fill("#id_password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.goto("/accounts/")
        state = page.locator("#welcome-state")
        expect(state).to_have_attribute("data-state", "cancelled")
        expect(state).to_contain_text(CANCELLED[language])
        screenshot(page, f"intent-account-cancelled-{width}-{language}")
        assert not smtp.received(user.email)

        page.click("#send-again")
        wait_for(lambda: smtp.received(user.email), what="the welcome email, asked for again")
        wait_for(lambda: EmailDelivery.objects.get(user=user).status == "sent", what="the delivery marked sent")
    assert len(smtp.received(user.email)) == 1
