"""Signup by HTML form and JSON API: validation, one error shape, no enumeration, the throttle."""

import json
import logging

import pytest
import redis
from django.db import IntegrityError, transaction
from django.test import RequestFactory

from accounts import views
from accounts.models import EmailDelivery, User
from accounts.throttle import client_address
from dramaturg import limits
from dramaturg.models import OutboxEmail, OutboxMessage
from dramaturg.store import queues, rate_limits

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct-horse-battery-staple"


def api(client, body, content_type="application/json", **extra):
    # CONTENT_TYPE also for an empty body, which the test client would otherwise send without one.
    return client.post("/api/signup/", data=body, content_type=content_type, CONTENT_TYPE=content_type, **extra)


def form(client, email, password1=GOOD_PASSWORD, password2=GOOD_PASSWORD, **extra):
    return client.post("/accounts/signup/", {"email": email, "password1": password1, "password2": password2}, **extra)


# --- the form -------------------------------------------------------------------


def test_form_shows_field_errors(client, clean_redis):
    response = form(client, "not-an-email", "x", "y")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "The two password fields didn" in html
    assert not User.objects.exists()


def test_form_rejects_weak_password(client, clean_redis):
    response = form(client, "a@example.com", "123", "123")
    assert response.status_code == 400
    assert "This password is too short" in response.content.decode()


def test_form_signup_creates_user_and_redirects(client, clean_redis):
    response = form(client, "Ann@Example.com")
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/done/"
    assert User.objects.get().email == "ann@example.com"
    assert "Check your email" in client.get(response["Location"]).content.decode()


def test_form_answers_a_registered_address_exactly_like_a_new_one(client, clean_redis, outbox_mailers):
    User.objects.create_user("taken@example.com", GOOD_PASSWORD)
    new, taken = form(client, "new@example.com"), form(client, "TAKEN@example.com", "other-horse-9", "other-horse-9")
    assert (new.status_code, new["Location"]) == (taken.status_code, taken["Location"])
    assert (new.status_code, new["Location"]) == (302, "/accounts/signup/done/")
    assert User.objects.count() == 2
    assert list(OutboxEmail.objects.values_list("to", flat=True)) == [["taken@example.com"]]


# --- the API: success, and no enumeration ---------------------------------------


def test_api_signup_answers_202_without_an_id(client, clean_redis):
    response = api(client, {"email": "Bob@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 202
    body = response.json()
    assert body["email"] == "bob@example.com" and "id" not in body
    assert User.objects.filter(email="bob@example.com").exists()


def test_api_answers_a_registered_address_exactly_like_a_new_one(client, clean_redis, outbox_mailers):
    """Same status and body; the owner gets a "you already have an account" email instead of a welcome."""
    first = api(client, {"email": "carol@example.com", "password": GOOD_PASSWORD})
    again = api(client, {"email": "CAROL@example.COM", "password": "another-horse-battery-7"})
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    user = User.objects.get()
    assert user.check_password(GOOD_PASSWORD)  # the second attempt changed nothing
    assert EmailDelivery.objects.filter(user=user).count() == 1  # the welcome email's row
    [notice] = OutboxEmail.objects.all()  # plain Django mail, recorded by the outbox backend with its job
    assert notice.to == ["carol@example.com"] and notice.headers["Message-ID"].startswith("<account-notice-")
    assert OutboxMessage.objects.filter(actor_name="send_outbox_email", args=[notice.pk]).count() == 1


def test_existing_account_notices_are_throttled_per_user(client, clean_redis, settings, outbox_mailers):
    settings.EXISTING_ACCOUNT_NOTICE_INTERVAL_S = 3600
    User.objects.create_user("dora@example.com", GOOD_PASSWORD)
    for _ in range(5):
        assert api(client, {"email": "dora@example.com", "password": GOOD_PASSWORD}).status_code == 202
    assert OutboxEmail.objects.count() == 1
    User.objects.update(existing_account_notice_at="2000-01-01T00:00:00Z")
    api(client, {"email": "dora@example.com", "password": GOOD_PASSWORD})
    assert OutboxEmail.objects.count() == 2  # an hour later: one more


def test_weak_password_is_the_same_error_for_a_registered_address(client, clean_redis, outbox_mailers):
    User.objects.create_user("erin@example.com", GOOD_PASSWORD)
    new, taken = (api(client, {"email": e, "password": "123"}) for e in ("fresh@example.com", "erin@example.com"))
    assert new.status_code == taken.status_code == 400 and new.json() == taken.json()
    assert not OutboxEmail.objects.exists()


# --- the API: bad input is a JSON 4xx of one shape, never a 500 ------------------


def nested(depth: int, kind: str) -> bytes:
    return (("[" * depth + "]" * depth) if kind == "array" else ('{"a":' * depth + "1" + "}" * depth)).encode()


@pytest.mark.parametrize(
    "body, errors",
    [
        (b"{not json", {"__all__": ["The request body must be valid UTF-8 JSON."]}),
        (b"\xff\xfe", {"__all__": ["The request body must be valid UTF-8 JSON."]}),
        (b"", {"__all__": ["The request body must be valid UTF-8 JSON."]}),
        (b"[1, 2]", {"__all__": ["The request body must be a JSON object."]}),
        (b'"a string"', {"__all__": ["The request body must be a JSON object."]}),
        (nested(2000, "array"), {"__all__": ["The request body is nested too deeply."]}),
        (nested(1000, "object"), {"__all__": ["The request body is nested too deeply."]}),
        (nested(5000, "array"), {"__all__": ["The request body is nested too deeply."]}),
        (nested(50, "object"), {"email": ["This field is required."], "password": ["This field is required."]}),
        (json.dumps({"email": "bob@example.com"}), {"password": ["This field is required."]}),
        (json.dumps({}), {"email": ["This field is required."], "password": ["This field is required."]}),
        (json.dumps({"email": "nope", "password": GOOD_PASSWORD}), {"email": ["Enter a valid email address."]}),
        (
            json.dumps({"email": 12, "password": ["x"]}),
            {"email": ["Must be a string."], "password": ["Must be a string."]},
        ),
        (json.dumps({"email": "bob@example.com", "password": {"a": 1}}), {"password": ["Must be a string."]}),
        (json.dumps({"email": ["bob@example.com"], "password": GOOD_PASSWORD}), {"email": ["Must be a string."]}),
        (
            json.dumps({"email": "bob@example.com", "password": "\x00" + GOOD_PASSWORD}),
            {"password": ["Null characters are not allowed."]},
        ),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_api_bad_input_is_400_with_one_message_per_field_error(client, clean_redis, settings, body, errors, debug):
    settings.DEBUG = debug
    response = api(client, body)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == {"errors": errors}
    assert not User.objects.exists()


def test_api_oversized_body_is_413_json(client, clean_redis, settings):
    settings.SIGNUP_API_MAX_BODY_BYTES = 16_384
    for size in (16_385, 1_000_000):
        body = json.dumps({"email": "big@example.com", "password": GOOD_PASSWORD, "pad": "x" * size})
        response = api(client, body)
        assert response.status_code == 413
        assert response.json() == {"errors": {"__all__": ["The request body must be at most 16384 bytes."]}}
    assert not User.objects.exists()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_api_non_json_content_type_is_415_json(client, clean_redis, content_type):
    response = client.generic("POST", "/api/signup/", b'{"email": "x@example.com"}', content_type=content_type)
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["errors"]["__all__"][0]


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_api_other_methods_are_405_json(client, method):
    response = getattr(client, method)("/api/signup/")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert set(response.json()["errors"]) == {"__all__"}


# --- the signal and the outbox ----------------------------------------------------


def test_database_enforces_case_insensitive_email(clean_redis):
    User.objects.create_user("dan@example.com", GOOD_PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="DAN@example.com")])


def test_signup_enqueues_welcome_email_after_commit(client, clean_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api(client, {"email": "erin@example.com", "password": GOOD_PASSWORD})
        # Nothing is on the broker before the transaction commits.
        assert queues.queue_counts("emails").ready == 0
    for callback in callbacks:
        callback()
    assert queues.queue_counts("emails").ready == 1
    assert EmailDelivery.objects.get().status == EmailDelivery.Status.PENDING
    [row] = OutboxMessage.objects.all()
    assert row.dispatched_at is not None and row.args == [User.objects.get().pk]


def test_rolled_back_signup_enqueues_nothing(clean_redis, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        User.objects.create_user("frank@example.com", GOOD_PASSWORD)
        raise RuntimeError("rollback")
    assert callbacks == []
    assert queues.queue_counts("emails").ready == 0
    assert not EmailDelivery.objects.exists() and not OutboxMessage.objects.exists()


# --- the throttle -------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The rate limiter's clock, set by the test (seconds)."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(limits, "_clock", lambda: now[0])
    return now


def test_signup_is_throttled_per_address_with_retry_after(client, clean_redis, settings, clock):
    settings.SIGNUP_RATE_PER_MINUTE = 2
    for n in range(2):
        assert api(client, {"email": f"t{n}@example.com", "password": GOOD_PASSWORD}).status_code == 202
    clock[0] += 10
    response = api(client, {"email": "t3@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 429 and response["Retry-After"] == "50"
    assert response.json() == {"errors": {"__all__": [views.THROTTLED]}}
    page = form(client, "t4@example.com")
    assert page.status_code == 429 and page["Retry-After"] == "50" and "Too many signups" in page.content.decode()
    assert User.objects.count() == 2
    clock[0] += 50  # the first two hits leave the window
    assert api(client, {"email": "t5@example.com", "password": GOOD_PASSWORD}).status_code == 202


def test_no_window_boundary_lets_twice_the_limit_through(clean_redis, clock):
    clock[0] = 1_800_000_000.0 + 59.5  # half a second before a minute boundary
    assert [limits.sliding_window("edge", 3, 60).allowed for _ in range(3)] == [True] * 3
    clock[0] += 1.0  # just past the boundary: a fixed window would start counting afresh
    assert limits.sliding_window("edge", 3, 60) == limits.Verdict(False, 59)
    clock[0] += 58.9
    assert limits.sliding_window("edge", 3, 60) == limits.Verdict(False, 1)
    clock[0] += 0.2  # 60.1 s after the first three
    assert [limits.sliding_window("edge", 3, 60).allowed for _ in range(4)] == [True, True, True, False]


def test_throttle_fails_open_and_logs_when_redis_is_down(clean_redis, monkeypatch, caplog):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setattr(rate_limits, "client", lambda: dead)
    with caplog.at_level(logging.WARNING, logger="dramaturg.limits"):
        assert limits.sliding_window("down", 1, 60) == limits.Verdict(True, 0)
    assert "Rate limit down not checked" in caplog.text


@pytest.mark.parametrize(
    "proxies, forwarded, remote, expected",
    [
        (0, "203.0.113.9", "10.0.0.1", "10.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "203.0.113.9", "10.0.0.1", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "10.0.0.1", "203.0.113.9"),  # what the client wrote itself is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.7", "10.0.0.1", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1", "10.0.0.1"),  # fewer entries than proxies: REMOTE_ADDR
        (1, "", "10.0.0.1", "10.0.0.1"),  # no header
        (1, "not-an-ip", "10.0.0.1", "10.0.0.1"),  # malformed
        (1, "203.0.113.9:5555", "10.0.0.1", "10.0.0.1"),
        (1, "203.0.113.9,", "10.0.0.1", "10.0.0.1"),
        (1, " 2001:db8::1 ", "10.0.0.1", "2001:db8::/64"),  # IPv6 clients by /64
        (1, "::ffff:203.0.113.9", "10.0.0.1", "203.0.113.9"),
        (0, "", "", "unknown"),
    ],
)
def test_client_address_trusts_exactly_the_configured_proxies(settings, proxies, forwarded, remote, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post("/api/signup/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_address(request) == expected


def test_behind_a_proxy_each_client_has_its_own_bucket(client, clean_redis, settings, clock):
    settings.SIGNUP_RATE_PER_MINUTE = 1
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n, address in enumerate(["203.0.113.1", "203.0.113.2", "203.0.113.3"]):
        body = {"email": f"p{n}@example.com", "password": GOOD_PASSWORD}
        assert api(client, body, HTTP_X_FORWARDED_FOR=address, **proxy).status_code == 202
    spoofed = api(
        client,
        {"email": "p9@example.com", "password": GOOD_PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.1",
        **proxy,
    )
    assert spoofed.status_code == 429


def test_deploy_checks_pass_with_production_settings():
    import os
    import secrets
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "example.com",
    }
    # Django's deprecations (PendingDeprecationWarning subclasses) printed, not hidden: the production
    # settings (MAILERS from EMAIL_URL) must load and pass the deploy checks without any.
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "default::PendingDeprecationWarning",
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RemovedInDjango" not in result.stderr, result.stderr
