"""Test settings: the project's settings on an isolated Redis database and namespace."""

import os

# Set before project.settings reads them, so the broker is built against them.
os.environ.setdefault("REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
os.environ.setdefault("DRAMATIQ_NAMESPACE", "dramatiq-test")
os.environ.setdefault("DRAMATIQ_MIN_BACKOFF_MS", "200")
os.environ.setdefault("DRAMATIQ_MAX_BACKOFF_MS", "1000")
os.environ.setdefault("WELCOME_EMAIL_MAX_RETRIES", "3")
os.environ.setdefault("REPORTS_CHUNK_SIZE", "40")
os.environ.setdefault("EMAIL_RATE_PER_SECOND", "100")
os.environ.setdefault("SIGNUP_RATE_PER_MINUTE", "100000")
os.environ.setdefault("PASSWORD_RESET_RATE_PER_MINUTE", "100000")
os.environ.setdefault("EMAIL_URL", "smtp://127.0.0.1:1")  # tests point it at their own SMTP server
os.environ.setdefault("ADMINS", "ops@example.com")
# Health alerts run when a test sends jobs.tasks.check_health, not every minute under a test's scheduler.
os.environ.setdefault("JOBS_HEALTH_ALERT_CRON", "0 0 1 1 *")

from project.settings import *  # noqa: F403
from project.settings import BASE_DIR, DATABASES

if DATABASES["default"]["ENGINE"] in ("django.db.backends.sqlite3", "project.sqlite3"):
    # A file, not memory: worker processes must open the same test database.
    # TEST_SQLITE_NAME lets two checkouts' suites run side by side.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TEST_SQLITE_NAME", str(BASE_DIR / "var" / "test-db.sqlite3"))
    }
    (BASE_DIR / "var").mkdir(exist_ok=True)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# @task functions of the tasks backend's tests; every worker a test starts knows them.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.task_app"]  # noqa: F405

# Test doubles (inert unless a test sets their env var for its worker processes).
DRAMATIQ_BROKER["MIDDLEWARE"] = [*DRAMATIQ_BROKER["MIDDLEWARE"], "tests.middleware.FailChosenChunks"]  # noqa: F405
