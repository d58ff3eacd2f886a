"""Signup by HTML form and JSON API: validation, errors, and the signal that queues the email."""
import json

import pytest
from django.db import IntegrityError, transaction

from accounts.models import EmailDelivery, User
from jobs.models import OutboxMessage
from jobs.store import queues, rate_limits

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct-horse-battery-staple"


def api(client, body, content_type="application/json"):
    return client.post("/api/signup/", data=body, content_type=content_type)


def test_form_shows_field_errors(client, clean_redis):
    response = client.post("/accounts/signup/", {"email": "not-an-email", "password1": "x", "password2": "y"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert "The two password fields didn" in html
    assert not User.objects.exists()


def test_form_rejects_weak_password(client, clean_redis):
    response = client.post("/accounts/signup/", {"email": "a@example.com", "password1": "123", "password2": "123"})
    assert response.status_code == 400
    assert "This password is too short" in response.content.decode()


def test_form_signup_creates_user_and_redirects(client, clean_redis):
    response = client.post(
        "/accounts/signup/", {"email": "Ann@Example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/done/"
    assert User.objects.get().email == "ann@example.com"


def test_api_signup_returns_201_with_id(client, clean_redis):
    response = api(client, {"email": "bob@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 201
    assert response.json()["id"] == User.objects.get(email="bob@example.com").pk


@pytest.mark.parametrize(
    "body, field",
    [
        (b"{not json", "__all__"),
        (b"\xff\xfe", "__all__"),
        (b"[1, 2]", "__all__"),
        (b"", "__all__"),
        (json.dumps({"email": "bob@example.com"}), "password"),
        (json.dumps({"email": "nope", "password": GOOD_PASSWORD}), "email"),
        (json.dumps({"email": 12, "password": ["x"]}), "email"),
    ],
)
def test_api_bad_input_is_400_with_field_errors(client, clean_redis, body, field):
    response = api(client, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not User.objects.exists()


def test_api_rejects_duplicate_email_ignoring_case(client, clean_redis):
    assert api(client, {"email": "carol@example.com", "password": GOOD_PASSWORD}).status_code == 201
    response = api(client, {"email": "CAROL@example.COM", "password": GOOD_PASSWORD})
    assert response.status_code == 400
    assert response.json()["errors"]["email"] == ["An account with this email already exists."]


def test_api_only_accepts_post(client):
    assert client.get("/api/signup/").status_code == 405


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
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            User.objects.create_user("frank@example.com", GOOD_PASSWORD)
            raise RuntimeError("rollback")
    assert callbacks == []
    assert queues.queue_counts("emails").ready == 0
    assert not EmailDelivery.objects.exists() and not OutboxMessage.objects.exists()


def test_signup_is_throttled_per_address(client, clean_redis, settings, monkeypatch):
    settings.SIGNUP_RATE_PER_MINUTE = 2
    monkeypatch.setattr(rate_limits, "_clock", lambda: 1_800_000_000.0)  # one fixed minute
    for n in range(2):
        assert api(client, {"email": f"t{n}@example.com", "password": GOOD_PASSWORD}).status_code == 201
    response = api(client, {"email": "t3@example.com", "password": GOOD_PASSWORD})
    assert response.status_code == 429 and response["Retry-After"] == "60"
    assert "Too many signups" in response.json()["errors"]["__all__"][0]
    form = client.post("/accounts/signup/", {"email": "t4@example.com", "password1": "x", "password2": "x"})
    assert form.status_code == 429 and "Too many signups" in form.content.decode()
    assert User.objects.count() == 2


def test_deploy_checks_pass_with_production_settings():
    import os
    import secrets
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", "DEBUG": "0",
           "SECRET_KEY": secrets.token_urlsafe(60), "ALLOWED_HOSTS": "example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
