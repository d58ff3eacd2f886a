"""Signup through a real web process with Django's real password hasher: concurrency, enumeration, overload.

The web process is `manage.py runserver` (threaded) on the test database, with
tests.settings_real_hasher (PBKDF2, as in production); the session's worker sends the email.
"""

import http.client
import json
import re
import statistics
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from accounts.models import EmailDelivery, User
from dramaturg.models import OutboxEmail
from dramaturg.store import queues
from harness.http import post_json
from harness.processes import ManagedProcess, child_env, wait_for
from harness.smtp_sink import free_port

pytestmark = [pytest.mark.integration]
PASSWORD = "correct-horse-battery-staple"


def real_hasher_web(smtp, **env: str):
    port = free_port()
    process = ManagedProcess(
        ["runserver", f"127.0.0.1:{port}", "--noreload"],
        child_env(DJANGO_SETTINGS_MODULE="tests.settings_real_hasher", EMAIL_URL=smtp.url, **env),
        b"Quit the server",
        "web-real-hasher",
    ).start()
    return process, SimpleNamespace(port=port, url=f"http://127.0.0.1:{port}/api/signup/", log_text=process.log_text)


@pytest.fixture
def web(worker, clean_redis, smtp, transactional_db):
    # These tests are about the database under concurrent signups: as many hashing slots as clients, none shed.
    process, web = real_hasher_web(smtp, SIGNUP_HASH_SLOTS="50")
    yield web
    process.kill()


@pytest.fixture
def one_slot_web(worker, clean_redis, smtp, transactional_db):
    """One hash at a time and no wait for a slot: every signup that finds the hash busy is shed."""
    process, web = real_hasher_web(smtp, SIGNUP_HASH_SLOTS="1", OVERLOAD_WAIT_S="0", OVERLOAD_RETRY_AFTER_S="3")
    yield web
    process.kill()


def drained() -> bool:
    return queues.queue_counts("emails") == queues.QueueCounts("emails", 0, 0, 0, 0)


@pytest.mark.long  # started first on an xdist worker (harness.fixtures.long_first)
def test_100_signups_50_at_once_with_the_real_hasher_no_5xx_100_emails_once_each(web, smtp):
    emails = [f"crowd{n}@example.com" for n in range(100)]
    started = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda e: post_json(web.url, {"email": e, "password": PASSWORD}, timeout=300), emails))
    elapsed = time.perf_counter() - started
    statuses = Counter(status for status, _, _ in results)
    seconds = sorted(s for _, _, s in results)
    print(
        f"\n100 signups, 50 concurrent, PBKDF2: {elapsed:.1f} s, statuses {dict(statuses)}, "
        f"p50 {seconds[49]:.2f} s, max {seconds[-1]:.2f} s"
    )
    assert statuses == {202: 100}, [body for status, body, _ in results if status != 202][:3]
    assert "database is locked" not in web.log_text()
    wait_for(lambda: len(smtp.received()) >= 100, timeout=180, interval=0.5, what="100 emails")
    wait_for(drained, timeout=60, what="the queue to be drained")
    assert sorted(m["To"] for m in smtp.received()) == sorted(emails)
    assert EmailDelivery.objects.filter(status="sent").count() == 100


@pytest.mark.long  # started first on an xdist worker (harness.fixtures.long_first)
def test_a_registered_address_gets_the_same_answer_in_the_same_time(web, smtp):
    """Same status and body whichever the address, and the same time: each kind's median answer time
    within a factor of 3 of a new address's. Skipping the password hash for a registered address
    (the leak this guards against) makes it tens of times faster; the kinds are interleaved, so load
    on the machine slows them alike."""

    def post(email: str) -> tuple[int, dict, float]:
        return post_json(web.url, {"email": email, "password": PASSWORD}, timeout=60)

    rounds = 12
    for n in range(rounds):  # registered addresses; the "thr" ones have had their notice already
        post(f"reg{n}@example.com"), post(f"thr{n}@example.com"), post(f"thr{n}@example.com")
    kinds = {
        "new": "new{}@example.com",
        "registered": "reg{}@example.com",
        "registered, notice throttled": "thr{}@example.com",
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    answers: dict[str, set] = {kind: set() for kind in kinds}
    for n in range(rounds):
        order = list(kinds)[n % 3 :] + list(kinds)[: n % 3]  # each kind first, second and third equally often
        for kind in order:
            status, body, seconds = post(kinds[kind].format(n))
            times[kind].append(seconds)
            answers[kind].add((status, tuple(sorted(body)), body.get("detail")))
    assert answers["new"] == answers["registered"] == answers["registered, notice throttled"]
    assert {status for status, _, _ in answers["new"]} == {202}
    medians = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    print(
        f"\nsignup answer time, median of {rounds} (ms): "
        + ", ".join(f"{kind} {ms:.0f}" for kind, ms in medians.items())
        + f"; registered / new = {medians['registered'] / medians['new']:.2f}, "
        f"throttled / new = {medians['registered, notice throttled'] / medians['new']:.2f}"
    )
    for kind in ("registered", "registered, notice throttled"):
        assert 1 / 3 < medians[kind] / medians["new"] < 3, (
            f"{kind}: {medians[kind]:.0f} ms, new {medians['new']:.0f} ms"
        )
    assert User.objects.count() == 3 * rounds
    assert OutboxEmail.objects.count() == 2 * rounds  # one notice per user, then none (throttled)


def test_one_address_signed_up_20_times_at_once_is_one_account_one_welcome_one_notice(web, smtp):
    """Racing signups for one address (on PostgreSQL the loser's insert fails and it owes a notice instead)."""
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(
                lambda _: post_json(web.url, {"email": "race@example.com", "password": PASSWORD}, timeout=120),
                range(20),
            )
        )
    assert {(status, body["email"]) for status, body, _ in results} == {(202, "race@example.com")}
    assert User.objects.filter(email="race@example.com").count() == 1
    wait_for(lambda: len(smtp.received()) >= 2, timeout=60, what="the welcome email and the notice")
    wait_for(drained, timeout=60, what="the queue to be drained")
    assert sorted(m["Subject"].split(" ")[0] for m in smtp.received()) == ["Welcome", "You"]


def request(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """(status, headers, body text) of one request to the web process."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def test_past_capacity_signups_are_shed_with_a_503_and_retry_after_and_leave_nothing_behind(one_slot_web, smtp):
    """40 API signups (half in Korean) and 10 form signups at once against one hashing slot: each answer is
    a 202 (a 302 for the form) or a 503 with Retry-After and, on the API, its JSON error shape, in the
    client's language; only the accepted ones are users, each with one welcome email."""
    port = one_slot_web.port
    api = [(f"api{n}@example.com", "ko" if n % 2 else "en") for n in range(40)]
    forms = []
    for n in range(10):  # each form from its own page: its CSRF cookie and token
        status, headers, page = request(port, "GET", "/accounts/signup/", headers={"Accept-Language": "ko"})
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert status == 200 and token, page
        forms.append((f"form{n}@example.com", headers["Set-Cookie"].split(";", 1)[0], token.group(1)))

    def api_signup(email: str, language: str):
        body = json.dumps({"email": email, "password": PASSWORD}).encode()
        headers = {"Content-Type": "application/json", "Accept-Language": language}
        return email, language, *request(port, "POST", "/api/signup/", body, headers)

    def form_signup(email: str, cookie: str, token: str):
        fields = {
            "csrfmiddlewaretoken": token,
            "email": email,
            "language": "ko",
            "password1": PASSWORD,
            "password2": PASSWORD,
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Accept-Language": "ko"}
        return email, *request(port, "POST", "/accounts/signup/", urllib.parse.urlencode(fields).encode(), headers)

    with ThreadPoolExecutor(len(api) + len(forms)) as pool:
        api_futures = [pool.submit(api_signup, *a) for a in api]
        form_futures = [pool.submit(form_signup, *f) for f in forms]
        api_answers = [f.result() for f in api_futures]
        form_answers = [f.result() for f in form_futures]

    accepted = set()
    for email, language, status, headers, body in api_answers:
        assert status in (202, 503), body
        assert headers["Content-Type"] == "application/json"
        if status == 202:
            accepted.add(email)
            assert json.loads(body)["email"] == email
        else:
            assert headers["Retry-After"] == "3"
            [message] = json.loads(body)["errors"]["__all__"]
            assert ("잠시 후" in message) if language == "ko" else ("try again" in message)
    for email, status, headers, page in form_answers:
        assert status in (302, 503), page
        if status == 302:
            accepted.add(email)
        else:
            assert headers["Retry-After"] == "3" and "잠시 후" in page
    shed = len(api_answers) + len(form_answers) - len(accepted)
    print(f"\n50 signups at once, one hashing slot: {len(accepted)} accepted, {shed} shed (503)")
    assert shed > 0 and accepted, "one slot and no wait: some signups are shed, the first is not"
    assert "Traceback" not in one_slot_web.log_text()
    wait_for(lambda: len(smtp.received()) >= len(accepted), timeout=180, interval=0.5, what="the welcome emails")
    wait_for(drained, timeout=60, what="the queue to be drained")
    assert set(User.objects.values_list("email", flat=True)) == accepted
    assert sorted(m["To"] for m in smtp.received()) == sorted(accepted)
