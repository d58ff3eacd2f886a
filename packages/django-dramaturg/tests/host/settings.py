"""The host project of the package's tests: what a user's settings.py adds for django-dramaturg, plus
test-only values. A host settings file may read the environment (the package does not): Redis and the
namespace come from TEST_REDIS_URL / DRAMATIQ_NAMESPACE, the database from DATABASE_URL (set by the
harness for the processes a test starts), the mail server from EMAIL_URL (a test's SMTP sink)."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dramaturg.conf import dramatiq_broker
from harness.xdist import isolate_environment

BASE_DIR = Path(__file__).resolve().parent.parent  # packages/django-dramaturg/tests: logs in test-artifacts/
SECRET_KEY = "host-settings-for-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = [
    *("django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes"),
    *("django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles"),
    *("django_dramatiq", "dramaturg", "host.demo"),
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "host.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# Under pytest-xdist each worker (and the processes its tests start) has its own Redis database and namespace.
REDIS_URL, DRAMATIQ_NAMESPACE = isolate_environment(
    "TEST_REDIS_URL", "DRAMATIQ_NAMESPACE", "redis://127.0.0.1:6379/15", "dramaturg-test"
)
_db = urlsplit(os.environ.get("DATABASE_URL", "sqlite:///"))
if _db.scheme.startswith("postgres"):
    _pg = {"HOST": _db.hostname, "PORT": _db.port or 5432, "USER": _db.username, "PASSWORD": _db.password or ""}
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {"ENGINE": "django.db.backends.postgresql", "NAME": _db.path[1:], **_pg}
    }
else:  # a file, not memory: the worker processes a test starts open the same test database
    _test = os.environ.get("TEST_SQLITE_NAME", str(Path(tempfile.gettempdir()) / f"{DRAMATIQ_NAMESPACE}-test.sqlite3"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db.path[1:] or _test,
            "TEST": {"NAME": _test},
            "OPTIONS": {
                "timeout": float(parse_qs(_db.query).get("timeout", ["20"])[0]),  # busy timeout; a test shortens it
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
USE_TZ = True
TIME_ZONE = "Asia/Seoul"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
STATIC_URL = "static/"
ADMINS = ["ops@example.com"]
SERVER_EMAIL = "dramaturg@example.com"
EMAIL_SUBJECT_PREFIX = "[host] "
_mail = urlsplit(os.environ.get("EMAIL_URL", "smtp://127.0.0.1:1"))  # tests point it at their own SMTP server
MAILERS = {
    # Every email through the outbox (send_mail, mail_admins, ...), sent once by a worker through "smtp".
    "default": {"BACKEND": "dramaturg.mail.OutboxEmailBackend", "OPTIONS": {"mailer": "smtp"}},
    "smtp": {
        "BACKEND": "dramaturg.mail.EmailBackend",
        "OPTIONS": {
            "host": _mail.hostname,
            "port": _mail.port,
            "timeout": float(os.environ.get("EMAIL_TIMEOUT_S", 10)),  # a test shortens the command timeout
            "data_timeout": 600,
        },
    },
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "dramaturg.log.SecretMaskingFilter"},
        "expected_failures": {"()": "dramaturg.log.ExpectedFailuresOneLine"},
    },
    "formatters": {
        "zoned": {"()": "dramaturg.log.ZonedFormatter", "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "zoned", "filters": ["mask_secrets"]}},
    "loggers": {"dramatiq.worker.WorkerThread": {"filters": ["expected_failures"]}},
    "root": {"handlers": ["console"], "level": "INFO"},
}

DRAMATIQ_ENCODER = "dramatiq.encoder.JSONEncoder"
DRAMATIQ_BROKER = dramatiq_broker(REDIS_URL, namespace=DRAMATIQ_NAMESPACE)
TASKS = {
    "default": {
        "BACKEND": "dramaturg.tasks_backend.DramatiqBackend",
        "QUEUES": ["default", "emails", "reports"],
        "OPTIONS": {"RESULT_TTL_S": int(os.environ.get("TASK_RESULT_TTL_S", 86_400))},  # a test shortens it
    }
}

# Every key has a default (docs/settings.md); tests want retries short, the SMTP budget large, alerts on.
DRAMATURG: dict[str, Any] = {
    "EMAIL": {"RATE_PER_S": 100, "QUEUE": "emails"},
    "RETRIES": {"MIN_BACKOFF_MS": 200, "MAX_BACKOFF_MS": 1000},
    "ALERTS": {"ENABLED": True, "CRON": "0 0 1 1 *"},  # alerts run when a test sends check_health
    "CODE_VERSION": os.environ.get("APP_VERSION", "host"),  # a test starts a worker of a "new deploy"
}
# A test's child processes lay groups over these: DRAMATURG_OVERRIDES='{"EMAIL": {"MAX_RETRIES": 1}}'.
for _group, _values in json.loads(os.environ.get("DRAMATURG_OVERRIDES", "{}")).items():
    DRAMATURG[_group] = {**DRAMATURG.get(_group, {}), **_values}
