"""The emails themselves: in the user's language, greeting them by name, HTML with a plain-text alternative;
and end to end through a real worker and SMTP server: a Korean welcome email, a password reset, "send again"."""

import json
import re
import urllib.request
from email.header import decode_header, make_header

import pytest
from django.test import Client

from accounts.emails import EXISTING_ACCOUNT, PASSWORD_RESET, build_email, welcome_email
from accounts.models import EmailDelivery, User
from dramaturg.models import OutboxEmail
from harness.http import post_json
from harness.processes import wait_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def delivery_for(user: User) -> EmailDelivery:
    return EmailDelivery.objects.get(user=user)


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def text_part(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset())


def parts(email) -> tuple[str, str]:
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html"
    return email.body, html


@pytest.mark.parametrize(
    "language, display_name, subject, greeting",
    [
        ("en", "Ann", "Welcome to Dramatiq Reference Project, Ann!", "Welcome, Ann!"),
        ("en", "", "Welcome to Dramatiq Reference Project, ann@example.com!", "Welcome, ann@example.com!"),
        ("ko", "김민지", "환영합니다, 김민지님! — Dramatiq Reference Project", "환영합니다, 김민지님!"),
    ],
)
def test_welcome_email_in_the_users_language_greets_them_by_name(
    clean_redis, language, display_name, subject, greeting
):
    user = User.objects.create_user("ann@example.com", PASSWORD, display_name=display_name, language=language)
    email = welcome_email(delivery_for(user))
    text, html = parts(email)
    assert email.subject == subject and email.extra_headers["Content-Language"] == language
    assert text.startswith(greeting) and f">{greeting}</h1>" in html and f'<html lang="{language}">' in html
    assert "http://127.0.0.1:8000/accounts/login/" in text and 'href="http://127.0.0.1:8000/accounts/login/"' in html
    assert "<" not in text  # the plain-text part has no markup


def test_names_are_escaped_in_html_and_plain_in_text(clean_redis):
    user = User.objects.create_user("eve@example.com", PASSWORD, display_name="<b>Eve</b> & co")
    text, html = parts(welcome_email(delivery_for(user)))
    assert "Welcome, <b>Eve</b> & co!" in text
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in html and "<b>Eve</b>" not in html


def test_existing_account_notice_and_reset_in_korean(clean_redis):
    user = User.objects.create_user("minji@example.com", PASSWORD, display_name="민지", language="ko")
    assert build_email(user, EXISTING_ACCOUNT).subject == "이미 Dramatiq Reference Project 계정이 있습니다"
    email = build_email(user, PASSWORD_RESET)
    assert email.subject == "Dramatiq Reference Project 비밀번호 재설정"
    assert email.body.startswith("민지님, 안녕하세요.") and "/accounts/password-reset/" in email.body


# --- end to end: real worker, real SMTP server --------------------------------------------------------


@pytest.mark.integration
def test_korean_signup_gets_a_korean_welcome_email(live, worker, smtp):
    body = {"email": "minji@example.com", "password": PASSWORD, "display_name": "김민지"}
    request = urllib.request.Request(
        f"{live.url}/api/signup/",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept-Language": "ko-KR,ko;q=0.9"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    [message] = wait_for(lambda: smtp.received("minji@example.com"), what="the Korean welcome email")
    assert subject(message) == "환영합니다, 김민지님! — Dramatiq Reference Project"
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}


@pytest.mark.integration
def test_password_reset_email_arrives_and_its_link_works(live, worker, smtp):
    status, _, _ = post_json(f"{live.url}/api/signup/", {"email": "ann@example.com", "password": PASSWORD})
    assert status == 202
    wait_for(lambda: smtp.received("ann@example.com"), what="the welcome email")
    client = Client()
    assert client.post("/accounts/password-reset/", {"email": "ann@example.com"}).status_code == 302
    wait_for(lambda: len(smtp.received("ann@example.com")) == 2, what="the password reset email")
    message = smtp.received("ann@example.com")[-1]
    assert subject(message) == "Reset your password at Dramatiq Reference Project"
    text = text_part(message)
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password-reset/\S+/)", text).group(1)
    form = client.get(link, follow=True)
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "brand-new-horse-42", "new_password2": "brand-new-horse-42"}
    )
    assert done.status_code == 302
    assert User.objects.get(email="ann@example.com").check_password("brand-new-horse-42")
    # Plain Django mail through the outbox backend: an outbox email row, sent once by the worker.
    wait_for(
        lambda: OutboxEmail.objects.filter(to=["ann@example.com"], status="sent").exists(),
        what="the reset email marked sent",
    )
    assert len(smtp.received("ann@example.com")) == 2


@pytest.mark.integration
def test_a_failed_welcome_email_sent_again_from_the_account_page_arrives_once(live, worker, smtp):
    smtp.handler.reply = "554 5.7.1 Rejected by test policy"
    status, _, _ = post_json(f"{live.url}/api/signup/", {"email": "bo@example.com", "password": PASSWORD})
    assert status == 202
    user = User.objects.get(email="bo@example.com")
    wait_for(lambda: delivery_for(user).status == "failed", timeout=30, what="the welcome email failed for good")
    smtp.handler.reply = None
    client = Client()
    client.force_login(user)
    assert 'id="send-again"' in client.get("/accounts/").content.decode()
    client.post("/accounts/welcome-email/send-again/")
    wait_for(lambda: smtp.received("bo@example.com"), what="the welcome email, sent again")
    wait_for(lambda: delivery_for(user).status == "sent", what="the delivery marked sent")
    assert len(smtp.received("bo@example.com")) == 1
    assert 'data-state="sent"' in client.get("/accounts/").content.decode()
