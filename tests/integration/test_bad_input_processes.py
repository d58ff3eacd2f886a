"""Issue 19's bad-input rows replayed against a real web process (runserver, DEBUG off, ADMINS set), the
session's real worker and a real SMTP server that is slow to accept: lone surrogates, odd addresses and
oversize form posts are 4xx and send no mail; a server error's mail to ADMINS leaves the request at once
and arrives once, through the outbox and the worker."""

import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from accounts.models import User
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.store import queues
from harness.http import post_json
from harness.processes import ManagedProcess, child_env, wait_for
from harness.smtp_sink import free_port

pytestmark = [pytest.mark.integration]
PASSWORD = "correct-horse-battery-staple"
SLOW_SMTP_S = 5.0  # the mail server answers the end of DATA after this long (under EMAIL_TIMEOUT_S)


@pytest.fixture
def web(worker, clean_redis, smtp, transactional_db):
    port = free_port()
    process = ManagedProcess(
        ["runserver", f"127.0.0.1:{port}", "--noreload"],
        child_env(
            DJANGO_SETTINGS_MODULE="tests.settings_broken_views",
            EMAIL_URL=smtp.url,
            DEBUG="False",
            SECURE_SSL_REDIRECT="False",
            ADMINS="ops@example.com",
        ),
        b"Quit the server",
        "web-bad-input",
    ).start()
    yield SimpleNamespace(base=f"http://127.0.0.1:{port}", log_text=process.log_text)
    process.stop()


def request(
    url: str, body: bytes | None = None, content_type: str = "", cookie: str = "", timeout: float = 60
) -> tuple[int, bytes, float]:
    headers = {"Content-Type": content_type} if content_type else {}
    if cookie:
        headers["Cookie"] = cookie
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, raw, time.perf_counter() - started


def drained() -> bool:
    return queues.queue_counts("emails") == queues.QueueCounts("emails", 0, 0, 0, 0)


def test_bad_input_rows_are_4xx_and_send_no_mail(web, smtp):
    smtp.handler.delay = SLOW_SMTP_S
    api = f"{web.base}/api/signup/"
    answers = {
        "lone surrogate in password": post_json(api, b'{"email": "a@example.com", "password": "ab\\udfffcd"}'),
        "lone surrogate in display_name": post_json(
            api, b'{"email": "b@example.com", "password": "%s", "display_name": "\\udfff"}' % PASSWORD.encode()
        ),
        "control character in a quoted local part": post_json(
            api, {"email": '"a\u000bb"@example.com', "password": PASSWORD}
        ),
        "IP-literal domain": post_json(api, {"email": "x@[127.0.0.1]", "password": PASSWORD}),
    }
    for row, (status, body, _seconds) in answers.items():
        assert status == 400, row
        assert len(body["errors"]) == 1, (row, body)
    # As a browser would, with the CSRF cookie of the form's page: Django then reads the body for the token.
    with urllib.request.urlopen(f"{web.base}/accounts/signup/") as page:
        cookie = page.headers["Set-Cookie"].split(";")[0]
    many_fields = "&".join(f"f{n}=x" for n in range(2000)).encode()
    big = b"email=" + b"x" * 3_000_000
    form = "application/x-www-form-urlencoded"
    oversize = {
        "2,000 fields": request(f"{web.base}/accounts/signup/", many_fields, form, cookie),
        "3 MB": request(f"{web.base}/accounts/signup/", big, form, cookie),
        "2,000 fields, login": request(f"{web.base}/accounts/login/", many_fields, form, cookie),
        "3 MB, password reset": request(f"{web.base}/accounts/password-reset/", big, form, cookie),
    }
    print("\n" + ", ".join(f"{row}: {status} in {s * 1000:.0f} ms" for row, (status, _, s) in oversize.items()))
    assert [status for status, _, _ in oversize.values()] == [400, 413, 400, 413]
    # Nothing was owed: no account, no outbox row, no error mail; the mail server was never called.
    assert not User.objects.exists() and not OutboxMessage.objects.exists() and not OutboxEmail.objects.exists()
    assert smtp.handler.rcpts == 0 and smtp.received() == []
    assert "Internal Server Error" not in web.log_text()


def test_a_server_errors_mail_leaves_the_request_at_once_and_arrives_once_through_the_worker(web, smtp):
    smtp.handler.delay = SLOW_SMTP_S
    status, _, seconds = request(f"{web.base}/test/broken/")
    assert status == 500
    # Answered before the mail server accepted any mail (it takes SLOW_SMTP_S to): nothing was sent inside the
    # request. (The worker may have begun the mail meanwhile: its envelope is no proof of anything.)
    assert smtp.received() == [] and seconds < SLOW_SMTP_S
    print(f"\n500 answered in {seconds * 1000:.0f} ms with a mail server that takes {SLOW_SMTP_S:.0f} s to accept")
    for _ in range(5):  # the same error again: throttled, no more mail
        assert request(f"{web.base}/test/broken/")[0] == 500
    assert request(f"{web.base}/test/broken-transaction/")[0] == 500
    wait_for(lambda: len(smtp.received()) >= 2, timeout=60, what="the two error mails")
    wait_for(lambda: OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 0, what="the outbox")
    wait_for(drained, timeout=60, what="the emails queue to drain")
    subjects = sorted(m["Subject"].replace("\r\n", "") for m in smtp.received())  # unfolded
    assert subjects == [
        "[Dramatiq Reference Project] ERROR (EXTERNAL IP): Internal Server Error: /test/broken-transaction/",
        "[Dramatiq Reference Project] ERROR (EXTERNAL IP): Internal Server Error: /test/broken/",
    ], subjects
    assert {m["To"] for m in smtp.received()} == {"ops@example.com"}
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {"sent"}
