"""A Django 6.1 MAILERS entry (the "smtp" one, which the outbox hands to) from an email URL: EMAIL_URL stays the
deployment's one email variable."""

from __future__ import annotations

from typing import Any

import environ

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# Ours for SMTP: Django's with a long wait for the reply to the end of DATA (dramaturg/mail/smtp.py).
OUR_SMTP_BACKEND = "dramaturg.mail.EmailBackend"
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"


def mailer_from_url(
    url: str, *, timeout: float | None = None, data_timeout: float | None = None, **smtp_overrides: Any
) -> dict[str, Any]:
    """The MAILERS entry for an email URL in django-environ's forms.

    smtp://user:password@host:port, smtp+tls:// (or smtps://: STARTTLS), smtp+ssl:// (TLS from the
    first byte), consolemail://, filemail:///dir (relative to the working directory: django-environ
    drops the first slash), memorymail://, dummymail://. Query parameters become backend OPTIONS
    (smtp://host?ssl_certfile=/path). SMTP only (dramaturg.mail.EmailBackend): `timeout` (seconds: connect,
    greeting, commands), `data_timeout` (seconds: the reply to the end of DATA) and `smtp_overrides`
    (host, port, username, password; None leaves the URL's) are applied on top.
    """
    parsed = environ.Env.email_url_config(url)
    backend = parsed["EMAIL_BACKEND"]
    options = {key.lower(): value for key, value in parsed.get("OPTIONS", {}).items()}
    if backend == SMTP_BACKEND:
        url_options = {
            "host": parsed["EMAIL_HOST"],
            "port": parsed["EMAIL_PORT"],  # None: Django's default for the scheme (25, 587 or 465)
            "username": parsed["EMAIL_HOST_USER"],
            "password": parsed["EMAIL_HOST_PASSWORD"],
            "use_tls": bool(parsed.get("EMAIL_USE_TLS")),
            "use_ssl": bool(parsed.get("EMAIL_USE_SSL")),
            "timeout": timeout,
            "data_timeout": data_timeout,
        }
        overrides = {key: value for key, value in smtp_overrides.items() if value is not None}
        options = {**url_options, **options, **overrides}
        backend = OUR_SMTP_BACKEND
    elif backend == FILE_BACKEND:
        options = {"file_path": parsed["EMAIL_FILE_PATH"], **options}
    return {"BACKEND": backend, "OPTIONS": options} if options else {"BACKEND": backend}
