"""Django 6.1's MAILERS built from EMAIL_URL (project/mailers.py): the URL forms, the settings a deployment
gets from its environment, and a real worker sending through the SMTP sink without Django deprecations."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.core.mail.backends import console, filebased, locmem, smtp
from django.test import override_settings

from harness.http import post_json
from harness.processes import wait_for
from project.mailers import mailer_from_url

SMTP = "dramaturg.mail.EmailBackend"  # Django's, with RFC 5321's wait for the final reply
# Every email through the outbox, handed to "smtp" by a worker.
OUTBOX = {"default": {"BACKEND": "dramaturg.mail.OutboxEmailBackend", "OPTIONS": {"mailer": "smtp"}}}


def smtp_options(**options: object) -> dict[str, object]:
    return {
        "host": "mail.example.com",
        "port": None,
        "username": None,
        "password": None,
        "use_tls": False,
        "use_ssl": False,
        "timeout": None,
        "data_timeout": None,
        **options,
    }


@pytest.mark.parametrize(
    "url, entry",
    [
        ("smtp://127.0.0.1:1025", {"BACKEND": SMTP, "OPTIONS": smtp_options(host="127.0.0.1", port=1025)}),
        (
            "smtp+tls://ann%40example.com:p%2Fw@mail.example.com:587",
            {
                "BACKEND": SMTP,
                "OPTIONS": smtp_options(port=587, username="ann@example.com", password="p/w", use_tls=True),
            },
        ),
        ("smtps://mail.example.com", {"BACKEND": SMTP, "OPTIONS": smtp_options(use_tls=True)}),
        ("smtp+ssl://mail.example.com:465", {"BACKEND": SMTP, "OPTIONS": smtp_options(port=465, use_ssl=True)}),
        (
            "smtp://mail.example.com?ssl_certfile=/etc/cert.pem",
            {"BACKEND": SMTP, "OPTIONS": smtp_options(ssl_certfile="/etc/cert.pem")},
        ),
        ("consolemail://", {"BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("memorymail://", {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}),
        (
            "filemail:///var/mail",
            {"BACKEND": "django.core.mail.backends.filebased.EmailBackend", "OPTIONS": {"file_path": "var/mail"}},
        ),
    ],
)
def test_each_email_url_form_becomes_its_mailers_entry(url, entry):
    assert mailer_from_url(url) == entry


def test_timeout_and_set_overrides_apply_to_smtp_only():
    entry = mailer_from_url("smtp://ann:old@mail.example.com:25", timeout=7, port=2525, password="new", username=None)
    assert entry["OPTIONS"] == smtp_options(port=2525, username="ann", password="new", timeout=7)
    assert mailer_from_url("consolemail://", timeout=7, host="ignored") == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend"
    }


def test_django_builds_a_working_backend_from_every_entry(tmp_path):
    entries = {
        "smtp": mailer_from_url("smtp+ssl://ann:pw@mail.example.com", timeout=5),
        "console": mailer_from_url("consolemail://"),
        "memory": mailer_from_url("memorymail://"),
        "file": mailer_from_url(f"filemail:///{tmp_path}"),  # django-environ drops the first slash
    }
    with override_settings(MAILERS=entries):
        sender = mailers["smtp"]
        assert isinstance(sender, smtp.EmailBackend)
        assert (sender.host, sender.port, sender.use_ssl, sender.timeout) == ("mail.example.com", 465, True, 5)
        assert isinstance(mailers["console"], console.EmailBackend)
        assert isinstance(mailers["memory"], locmem.EmailBackend)
        file_backend = mailers["file"]
        assert isinstance(file_backend, filebased.EmailBackend) and file_backend.file_path == str(tmp_path)


def test_the_tests_send_to_memory_under_every_alias(mailoutbox):
    """Django's test set-up swaps each MAILERS alias for its memory backend (no deprecated EMAIL_BACKEND):
    a mail sent in a test lands in the outbox, never on EMAIL_URL's server (127.0.0.1:1 refuses)."""
    assert settings.MAILERS
    for alias in settings.MAILERS:
        assert isinstance(mailers[alias], locmem.EmailBackend)
        EmailMessage(f"to {alias}", "body", "from@example.com", ["to@example.com"]).send(using=alias)
    assert [m.subject for m in mailoutbox] == [f"to {alias}" for alias in settings.MAILERS]


def _settings_in_a_fresh_process(**env: str) -> dict:
    """project.settings loaded as a deployment loads it; Django's deprecations raise."""
    code = (
        "import json, warnings\n"
        "from django.utils.deprecation import RemovedInDjango2028Warning\n"
        "warnings.simplefilter('error', RemovedInDjango2028Warning)\n"
        "import django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "email = settings.DRAMATURG['EMAIL']\n"
        "print(json.dumps({'MAILERS': settings.MAILERS, 'EMAIL_TIMEOUT_S': email['TIMEOUT_S']}))\n"
    )
    names = ("EMAIL_URL", "EMAIL_TIMEOUT_S", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD")
    clean = {name: value for name, value in os.environ.items() if name not in names}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_default_to_the_local_smtp_sink():
    loaded = _settings_in_a_fresh_process()
    options = smtp_options(host="127.0.0.1", port=1025, timeout=10, data_timeout=600)
    assert loaded == {"MAILERS": {**OUTBOX, "smtp": {"BACKEND": SMTP, "OPTIONS": options}}, "EMAIL_TIMEOUT_S": 10}


def test_settings_read_email_url_email_timeout_and_the_usual_overrides():
    loaded = _settings_in_a_fresh_process(
        EMAIL_URL="smtp+ssl://ann:secret@mail.example.com:465", EMAIL_TIMEOUT_S="3", EMAIL_HOST_PASSWORD="rotated"
    )
    options = smtp_options(port=465, username="ann", password="rotated", use_ssl=True, timeout=3, data_timeout=600)
    assert loaded == {"MAILERS": {**OUTBOX, "smtp": {"BACKEND": SMTP, "OPTIONS": options}}, "EMAIL_TIMEOUT_S": 3}


@pytest.mark.integration
def test_a_real_worker_sends_through_email_url_without_django_deprecation_warnings(live, worker, smtp):
    """The session worker (EMAIL_URL pointing at the sink, Django's deprecations printed to its log)."""
    status, _, _ = post_json(f"{live.url}/api/signup/", {"email": "mailers@example.com", "password": "Tr1cky-pass!"})
    assert status == 202
    [message] = wait_for(lambda: smtp.received("mailers@example.com"), what="the welcome email")
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert "RemovedInDjango" not in worker.log_text()
