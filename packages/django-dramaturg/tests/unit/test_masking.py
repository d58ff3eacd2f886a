"""Secrets masked in data and in log lines: fast unit tests, no Redis."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest
from django.conf import settings
from dramatiq import Message

from dramaturg.log import SecretMaskingFilter
from dramaturg.masking import MASK, is_secret_key, mask_secrets, mask_text

SECRET_KEYS = [
    "password",
    "user_password",
    "EMAIL_HOST_PASSWORD",
    "userPassword",
    "passwd",
    "pwd",
    "db_pass",
    "pass",
    "passphrase",
    "secret",
    "client_secret",
    "SECRET_KEY",
    "token",
    "access_token",
    "csrftoken",
    "authToken",
    "api_key",
    "apikey",
    "x-api-key",
    "API-KEY",
    "access_key",
    "AWS_ACCESS_KEY_ID",
    "private_key",
    "signing_key",
    "encryption_key",
    "authorization",
    "Authorisation",
    "auth",
    "credentials",
    "cookie",
    "Set-Cookie",
    "signature",
    "session_id",
    "sessionid",
    "sessionId",
    "session_key",
    "session_token",
    "sid",
    "otp",
    "pin",
    "cvv",
]
PLAIN_KEYS = [
    "user_id",
    "email",
    "passenger",
    "compass",
    "author",
    "shipping",
    "spinner",
    "subject",
    "sidebar",
    "options",
    "kwargs",
    "queue_name",
    "message_id",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_looking_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_plain_keys(key):
    assert not is_secret_key(key)


def test_mask_secrets_at_any_depth():
    data = {"user_id": 1, "kwargs": {"password": "hunter2", "nested": [{"private_key": "k", "ok": 2}]}}
    assert mask_secrets(data) == {
        "user_id": 1,
        "kwargs": {"password": MASK, "nested": [{"private_key": MASK, "ok": 2}]},
    }


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            "Message send_welcome_email('abc', password='hunter2') was skipped.",
            "Message send_welcome_email('abc', password='********') was skipped.",
        ),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '********', 'user': 'bob'}"),
        ('{"api_key": "k\\"ey", "n": 1}', '{"api_key": "********", "n": 1}'),
        ("private_key=b'abc' access_key=AKIA1", "private_key=b'********' access_key=********"),
        ("pwd=zz, passwd: yy; session_id=1", "pwd=********, passwd: ********; session_id=********"),
        ("GET https://h/cb?code=1&token=abc&x=2", "GET https://h/cb?code=1&token=********&x=2"),
        ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer ********"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:********@127.0.0.1:6379/0"),
        ("postgres://app:pw@db/app?sslmode=require", "postgres://app:********@db/app?sslmode=require"),
        ("user_id=42 passenger=ok author='me'", "user_id=42 passenger=ok author='me'"),
        # A key right after a dash, a digit, a dot or a quote; a non-secret word ending in one is not a key.
        ("--password=hunter2 2fa_token=77 x.secret=s", "--password=******** 2fa_token=******** x.secret=********"),
        ("x'token'=abc bypass=1 xpwd=2", "x'token'=******** bypass=1 xpwd=********"),
        ("", ""),
    ],
)
def test_mask_text(line, expected):
    assert mask_text(line) == expected


def _record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("dramatiq.worker.WorkerThread", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_the_filter_masks_dramatiqs_own_lines_and_tracebacks():
    message = Message(
        queue_name="emails", actor_name="send_welcome_email", args=("abc",), kwargs={"password": "hunter2"}, options={}
    )
    try:
        raise ValueError("bad login for {'password': 'hunter2'}")
    except ValueError:
        import sys

        record = _record("Failed to process message %s with unhandled exception.", message, exc_info=sys.exc_info())
    assert SecretMaskingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "hunter2" not in text
    assert "send_welcome_email('abc', password='********')" in text
    assert "ValueError: bad login for {'password': '********'}" in text


def test_settings_attach_the_filter_to_every_handler():
    config = settings.LOGGING
    assert all("mask_secrets" in handler.get("filters", []) for handler in config["handlers"].values())
    stream = io.StringIO()
    logger = logging.getLogger("tests.masking")
    logging.config.dictConfig(config)
    try:
        [handler] = logging.getLogger().handlers
        handler.setStream(stream)
        logger.warning("Message %s was skipped.", "send_welcome_email(1, password='hunter2')")
    finally:
        logging.config.dictConfig(config)  # a fresh stderr handler again
    assert "hunter2" not in stream.getvalue() and "password='********'" in stream.getvalue()
