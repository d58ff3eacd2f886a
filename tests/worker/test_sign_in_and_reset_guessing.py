"""Sign-in and password reset resist guessing and timing (issue 19, item 9).

Sign-in: django-axes counts failed sign-ins per account and per client address (the TRUSTED_PROXY_COUNT
rule); at LOGIN_FAILURE_LIMIT the account and the address are locked out for LOGIN_LOCKOUT_COOLOFF_S: a
translated 429 page with Retry-After, the right password refused too, on /accounts/login/ and the admin's.
Password reset: throttled per client address, and the request does the same work whatever the address (one
outbox job; a worker decides), so neither its answer nor its time tells a registered address from an unknown
(with a real worker: tests/integration/test_sign_in_and_reset_live.py).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from django.test import Client

from accounts.models import LoginEvent, User
from dramaturg.models import OutboxEmail, OutboxMessage

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
ATTACKER, OWNER, ELSEWHERE = "203.0.113.7", "198.51.100.20", "192.0.2.55"


@pytest.fixture
def ann(clean_redis) -> User:
    return User.objects.create_user("ann@example.com", PASSWORD, display_name="Ann")


@pytest.fixture
def bo(clean_redis) -> User:
    return User.objects.create_user("bo@example.com", PASSWORD)


def sign_in(email: str, password: str, address: str, path: str = "/accounts/login/", **extra):
    """One sign-in from a client of its own (no session carried over) at `address`."""
    return Client().post(path, {"username": email, "password": password}, REMOTE_ADDR=address, **extra)


def cool_off_passes() -> None:
    """As if LOGIN_LOCKOUT_COOLOFF_S went by since every failure recorded (no test waits a quarter hour)."""
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(seconds=settings.LOGIN_LOCKOUT_COOLOFF_S))


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_COOLOFF_S)
    assert 'id="login-locked"' in response.content.decode()


# --- sign-in --------------------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_the_cool_off(ann, bo):
    limit = settings.LOGIN_FAILURE_LIMIT
    answers = [sign_in("ann@example.com", f"guess-{n}", ATTACKER) for n in range(30)]
    assert [a.status_code for a in answers[: limit - 1]] == [200] * (limit - 1)  # the form's error, then ...
    for locked in answers[limit - 1 :]:  # ... from the limit on, the lockout page
        assert_locked_out(locked)
    assert "Too many failed sign-ins" in answers[-1].content.decode()
    assert "15 minutes" in answers[-1].content.decode()

    assert_locked_out(sign_in("ann@example.com", PASSWORD, ATTACKER))  # the right password: refused
    assert_locked_out(sign_in("ann@example.com", PASSWORD, OWNER))  # the account, from anywhere
    assert_locked_out(sign_in("bo@example.com", PASSWORD, ATTACKER))  # the address, for any account
    assert not LoginEvent.objects.exists()
    assert sign_in("bo@example.com", PASSWORD, ELSEWHERE).status_code == 302  # other accounts, other clients

    cool_off_passes()
    assert sign_in("ann@example.com", PASSWORD, OWNER).status_code == 302
    assert LoginEvent.objects.filter(user=ann).count() == 1


def test_the_lockout_page_speaks_korean(ann):
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        sign_in("ann@example.com", f"guess-{n}", ATTACKER)
    response = sign_in("ann@example.com", "guess", ATTACKER, HTTP_ACCEPT_LANGUAGE="ko")
    assert_locked_out(response)
    assert "로그인 실패가 너무 많습니다" in response.content.decode()


def test_the_account_is_counted_whatever_the_case_of_its_address(ann):
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        sign_in(["ANN@example.com", "Ann@Example.COM", " ann@example.com"][n % 3], f"guess-{n}", f"10.0.0.{n}")
    assert_locked_out(sign_in("ann@EXAMPLE.com", "guess", "10.0.1.1"))


def test_a_success_forgets_that_accounts_failures_from_that_address_only(ann, bo):
    limit = settings.LOGIN_FAILURE_LIMIT
    for n in range(limit - 1):
        assert sign_in("ann@example.com", f"typo-{n}", OWNER).status_code == 200
    assert sign_in("ann@example.com", PASSWORD, OWNER).status_code == 302  # forgets ann's typos from here
    for n in range(limit - 1):
        assert sign_in("ann@example.com", f"typo-{n}", OWNER).status_code == 200

    # An attacker signing in to an account of their own between guesses lifts no limit on the others.
    for n in range(limit - 2):
        assert sign_in("bo@example.com", f"guess-{n}", ATTACKER).status_code == 200
    User.objects.create_user("mallory@example.com", PASSWORD)
    assert sign_in("mallory@example.com", PASSWORD, ATTACKER).status_code == 302
    assert sign_in("bo@example.com", "guess", ATTACKER).status_code == 200
    assert_locked_out(sign_in("bo@example.com", "guess", ATTACKER))


def test_the_admins_sign_in_is_throttled_and_staff_lift_a_lockout_in_the_admin(ann, clean_redis):
    User.objects.create_superuser("root@example.com", PASSWORD)
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        response = sign_in("root@example.com", f"guess-{n}", ATTACKER, path="/admin/login/")
    assert_locked_out(response)
    assert_locked_out(sign_in("root@example.com", PASSWORD, ATTACKER, path="/admin/login/"))

    # Another member of staff sees the lockout and lifts it (the admin's delete action of django-axes).
    User.objects.create_superuser("ops@example.com", PASSWORD)
    staff = Client()
    staff.force_login(User.objects.get(email="ops@example.com"))
    listing = staff.get("/admin/axes/accessattempt/").content.decode()
    assert "root@example.com" in listing and ATTACKER in listing
    from axes.models import AccessAttempt

    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert not AccessAttempt.objects.exists()
    assert sign_in("root@example.com", PASSWORD, ATTACKER, path="/admin/login/").status_code == 302


def test_the_client_address_follows_trusted_proxy_count(ann, bo, settings):
    """Behind one proxy the client is the last X-Forwarded-For entry: what a client writes further left
    does not give it a fresh count."""
    settings.TRUSTED_PROXY_COUNT = 1
    emails = ["ann@example.com", "bo@example.com"]
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        forwarded = f"10.{n}.0.1, {ATTACKER}"  # a spoofed entry, then the proxy's
        assert sign_in(emails[n % 2], f"guess-{n}", "10.255.0.1", HTTP_X_FORWARDED_FOR=forwarded).status_code == 200
    assert_locked_out(sign_in("bo@example.com", "guess", "10.255.0.1", HTTP_X_FORWARDED_FOR=f"1.1.1.1, {ATTACKER}"))
    assert sign_in("bo@example.com", PASSWORD, "10.255.0.1", HTTP_X_FORWARDED_FOR=OWNER).status_code == 302


def test_ipv6_clients_are_counted_per_64(ann, bo):
    emails = ["ann@example.com", "bo@example.com"]
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert sign_in(emails[n % 2], f"guess-{n}", f"2001:db8:1:2::{n + 1:x}").status_code == 200
    assert_locked_out(sign_in("bo@example.com", "guess", "2001:db8:1:2:ffff::1"))
    assert sign_in("bo@example.com", PASSWORD, "2001:db8:1:3::1").status_code == 302  # the next /64


# --- password reset ------------------------------------------------------------------------------------


def test_password_reset_is_throttled_per_client_address(clean_redis, settings):
    settings.PASSWORD_RESET_RATE_PER_MINUTE = 5
    client = Client(REMOTE_ADDR=ATTACKER)
    for n in range(5):
        assert client.post("/accounts/password-reset/", {"email": f"user{n}@example.com"}).status_code == 302
    throttled = client.post("/accounts/password-reset/", {"email": "user5@example.com"})
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    page = throttled.content.decode()
    assert "Too many password reset requests from your address" in page and 'value="user5@example.com"' in page
    assert OutboxMessage.objects.filter(actor_name="decide_password_reset").count() == 5  # the 6th recorded nothing
    other = Client(REMOTE_ADDR=OWNER).post("/accounts/password-reset/", {"email": "ann@example.com"})
    assert other.status_code == 302  # another client is not throttled


def probability_slower(a: list[float], b: list[float]) -> float:
    """P(a sample of `a` > a sample of `b`), ties counting half: Mann-Whitney's U / (len(a) * len(b)).
    0.5 when the two cannot be told apart; 1.0 when every `a` is slower than every `b`."""
    wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    return wins / (len(a) * len(b))


def test_reset_request_times_do_not_tell_a_registered_address_from_an_unknown(
    transactional_db, clean_redis, settings, outbox_mailers
):
    """Registered and unknown addresses, interleaved (ABBA), each request timed whole (middleware, the
    database commit and the outbox's dispatch to Redis). A rank statistic, not a time bound: when the request
    owed the email itself, every run separated them (P(registered slower) ≈ 1.0); the same work gives ≈ 0.5."""
    settings.PASSWORD_RESET_EMAIL_INTERVAL_S = 0  # every request for a registered address owes an email
    registered = [User.objects.create_user(f"reg{n:02d}@example.com", PASSWORD).email for n in range(5)]
    unknown = [f"unk{n:02d}@example.com" for n in range(5)]
    client = Client()

    def timed(email: str) -> float:
        started = time.perf_counter()
        response = client.post("/accounts/password-reset/", {"email": email})
        elapsed = time.perf_counter() - started
        assert response.status_code == 302 and response["Location"] == "/accounts/password-reset/sent/"
        return elapsed

    for n in range(20):  # warm-up: templates, connections, scripts
        timed([*registered, *unknown][n % 10])
    times: dict[str, list[float]] = {"registered": [], "unknown": []}
    for n in range(200):
        pair = [("registered", registered[n % 5]), ("unknown", unknown[n % 5])]
        for kind, email in pair if n % 2 else reversed(pair):
            times[kind].append(timed(email))
    p = probability_slower(times["registered"], times["unknown"])
    medians = {kind: statistics.median(samples) * 1000 for kind, samples in times.items()}
    print(f"\nreset request medians (ms): {medians}; P(registered slower) = {p:.3f}")
    assert 0.3 <= p <= 0.7, f"registered and unknown addresses are told apart by time: P = {p:.3f}, {medians}"
    assert not OutboxEmail.objects.exists()  # nothing decided in the request
