"""The account pages in a real browser, in Korean and in English: sign up, the welcome email's state,
sign in and out, password reset by email; with a real worker and a real SMTP server."""

import re
from email.header import decode_header, make_header

import pytest
from playwright.sync_api import expect

from accounts.models import EmailDelivery, LoginEvent, User
from harness.browser import browser_page, screenshot
from harness.processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def browser_live(live, worker, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return live


def text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset())


def test_korean_sign_up_welcome_email_sign_in_and_out(browser_live, smtp):
    with browser_page(browser_live.url) as page:
        page.set_extra_http_headers({"Accept-Language": "ko-KR,ko;q=0.9"})
        page.goto("/")
        page.click("#nav-signup")
        expect(page.locator("h1")).to_have_text("계정 만들기")
        page.fill("#id_email", "minji@example.com")
        page.fill("#id_display_name", "김민지")
        expect(page.locator("#id_language")).to_have_value("ko")  # preset to the page's language
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", "not-the-same-1")
        page.click("button[type=submit]:has-text('가입하기')")
        expect(page.locator(".errorlist")).to_contain_text("비밀번호")  # a field error, in Korean
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("button[type=submit]:has-text('가입하기')")
        expect(page.locator("h1")).to_have_text("이메일을 확인하세요")

        [message] = wait_for(lambda: smtp.received("minji@example.com"), what="the welcome email")
        assert str(make_header(decode_header(message["Subject"]))).startswith("환영합니다, 김민지님!")
        user = User.objects.get(email="minji@example.com")
        wait_for(lambda: EmailDelivery.objects.get(user=user).status == "sent", what="the delivery marked sent")

        page.click("#nav-login")
        page.fill("#id_username", "minji@example.com")
        page.fill("#id_password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/accounts/")
        expect(page.locator("#welcome-state")).to_have_attribute("data-state", "sent")
        expect(page.locator("#welcome-state")).to_contain_text("보냄")
        assert LoginEvent.objects.filter(user=user).count() == 1
        screenshot(page, "account-ko")

        page.click("#nav-logout")
        expect(page.locator("h1")).to_have_text("로그아웃됨")
        expect(page.locator("#nav-login")).to_be_visible()


def test_english_password_reset_by_email_then_sign_in(browser_live, smtp):
    User.objects.create_user("ann@example.com", PASSWORD, display_name="Ann")
    wait_for(lambda: smtp.received("ann@example.com"), what="the welcome email")
    with browser_page(browser_live.url) as page:
        page.set_extra_http_headers({"Accept-Language": "en-US,en;q=0.9"})
        page.goto("/accounts/login/")
        page.click("text=Forgot your password?")
        page.fill("#id_email", "ann@example.com")
        page.click("#password-reset-form button[type=submit]")
        expect(page.locator("#reset-sent")).to_be_visible()
        wait_for(lambda: len(smtp.received("ann@example.com")) == 2, what="the password reset email")
        text = text_of(smtp.received("ann@example.com")[-1])
        assert text.startswith("Hello Ann,")
        path = re.search(r"http://127\.0\.0\.1:8000(/accounts/password-reset/\S+/)", text).group(1)

        page.goto(path)
        page.fill("#id_new_password1", "brand-new-horse-42")
        page.fill("#id_new_password2", "brand-new-horse-42")
        page.click("#set-password-form button[type=submit]")
        expect(page.locator("#reset-complete")).to_be_visible()
        page.goto(path)
        expect(page.locator("#invalid-link")).to_be_visible()  # a link works once

        page.goto("/accounts/login/")
        page.fill("#id_username", "ann@example.com")
        page.fill("#id_password", "brand-new-horse-42")
        page.click("#login-form button[type=submit]")
        page.wait_for_url("**/accounts/")
        expect(page.locator("#account-email")).to_have_text("ann@example.com")
        screenshot(page, "account-en")

        # The language menu switches the pages to Korean and back.
        page.select_option("#language-form select", "ko")
        expect(page.locator("h1")).to_have_text("내 계정")
        page.select_option("#language-form select", "en")
        expect(page.locator("h1")).to_have_text("Your account")
