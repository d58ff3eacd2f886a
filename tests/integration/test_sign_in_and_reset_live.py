"""Sign-in and password reset against the live server (issue 19, item 9): 30 wrong passwords over HTTP end in a
429 lockout that the right password does not lift; a reset request records one job whatever the address, and
a real worker emails a registered address once, with a working link, and an unknown address never."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import LoginEvent, User
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.store import recent
from harness.processes import wait_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 302 is the answer itself
        return None


def http_sign_in(base_url: str, email: str, password: str) -> tuple[int, dict[str, str], str]:
    """A browser's sign-in over HTTP: the form (CSRF cookie and token), then the POST; (status, headers, body)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirects)
    page = opener.open(f"{base_url}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, "the sign-in form has its CSRF token"
    body = urlencode({"csrfmiddlewaretoken": token.group(1), "username": email, "password": password}).encode()
    request = urllib.request.Request(f"{base_url}/accounts/login/", data=body, method="POST")
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:  # 302 (not followed) and 429 alike
        response = error
    return response.status, dict(response.headers), response.read().decode()


def test_thirty_wrong_passwords_over_http_lock_the_account_out(live):
    User.objects.create_user("ann@example.com", PASSWORD)
    answers = [http_sign_in(live.url, "ann@example.com", f"guess-{n}") for n in range(30)]
    limit = settings.LOGIN_FAILURE_LIMIT
    assert [status for status, _, _ in answers] == [200] * (limit - 1) + [429] * (31 - limit)
    assert all(headers["Retry-After"] == str(settings.LOGIN_LOCKOUT_COOLOFF_S) for _, headers, _ in answers[limit:])
    status, headers, page = http_sign_in(live.url, "ann@example.com", PASSWORD)
    assert (status, headers["Retry-After"]) == (429, str(settings.LOGIN_LOCKOUT_COOLOFF_S))
    assert "Too many failed sign-ins" in page
    assert not LoginEvent.objects.exists()


def test_a_reset_emails_a_registered_address_once_with_a_working_link_and_an_unknown_one_never(live, worker, smtp):
    User.objects.create_user("ann@example.com", PASSWORD, display_name="Ann")
    wait_for(lambda: smtp.received("ann@example.com"), what="the welcome email")
    client = Client()
    for email in ("nobody@example.com", "ann@example.com"):
        assert (
            client.post("/accounts/password-reset/", {"email": email})["Location"] == "/accounts/password-reset/sent/"
        )
    decisions = [str(row.message_id) for row in OutboxMessage.objects.filter(actor_name="decide_password_reset")]
    assert len(decisions) == 2
    wait_for(lambda: all(recent.finished(i) for i in decisions), what="the worker's two decisions")
    user = User.objects.get(email="ann@example.com")
    wait_for(
        lambda: OutboxEmail.objects.filter(to=[user.email], status="sent").exists(),
        what="the reset email sent",
    )
    resets = [m for m in smtp.received("ann@example.com") if m["Subject"].startswith("Reset your password")]
    assert len(resets) == 1
    assert smtp.received("nobody@example.com") == []
    text = next(p for p in resets[0].walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password-reset/\S+/)", text).group(1)
    form = client.get(link, follow=True)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "new-horse-42!", "new_password2": "new-horse-42!"})
    assert done["Location"] == "/accounts/password-reset/done/"
    assert User.objects.get(pk=user.pk).check_password("new-horse-42!")
    assert OutboxEmail.objects.filter(subject__startswith="Reset your password").count() == 1
