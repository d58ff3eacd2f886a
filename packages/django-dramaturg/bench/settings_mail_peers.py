"""The bench's settings (bench/settings.py, the host project's) for bench/mail_backends.py's database-queue peers:
django-mailer's DbBackend (BENCH_MAIL_PEER=mailer) or django-post-office's backend (BENCH_MAIL_PEER=post_office) as
EMAIL_BACKEND, each as its docs set it up, sending to EMAIL_URL's server with Django's SMTP backend.

Both peers build their sending connection with `get_connection(backend=...)`, which Django 6.1 refuses when
MAILERS is set: these settings use the older EMAIL_* settings instead (what those libraries document)."""

import os
from urllib.parse import urlsplit

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

del MAILERS  # noqa: F821 (from the star import)

_smtp = urlsplit(os.environ["EMAIL_URL"])
EMAIL_HOST, EMAIL_PORT = _smtp.hostname, _smtp.port
PEER = os.environ["BENCH_MAIL_PEER"]
_locks = os.environ.get("BENCH_MAIL_LOCK_DIR", "/tmp")

if PEER == "mailer":
    INSTALLED_APPS = [*INSTALLED_APPS, "mailer"]
    EMAIL_BACKEND = "mailer.backend.DbBackend"
    MAILER_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    MAILER_LOCK_PATH = f"{_locks}/django-mailer"
elif PEER == "post_office":
    INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]
    EMAIL_BACKEND = "post_office.EmailBackend"
    POST_OFFICE = {
        "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
        "LOCK_FILE_NAME": f"{_locks}/post_office",
    }
else:
    raise ValueError(f"BENCH_MAIL_PEER={PEER!r}: mailer or post_office")
