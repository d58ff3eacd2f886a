"""Test settings: the project's settings on an isolated Redis database and namespace."""

import os
import sys
from pathlib import Path

# The package's test harness, on the path as pytest.ini puts it, for the commands and tools that load these
# settings outside pytest (make test-redis's ensure_redis, mypy's Django plugin).
HARNESS_ROOT = str(Path(__file__).resolve().parent.parent / "packages" / "django-dramaturg" / "tests")
if HARNESS_ROOT not in sys.path:
    sys.path.append(HARNESS_ROOT)

from harness.xdist import XDIST_WORKER, per_xdist_worker  # noqa: E402

# Set before project.settings reads them, so the broker is built against them. The xdist workers inherit
# the environment of the controlling pytest process, which derived its own values: each worker derives
# again. A child process a test starts inherits its worker's values (and any override) unchanged.
if os.environ.get("TESTS_DERIVED_FOR", XDIST_WORKER) != XDIST_WORKER:
    del os.environ["REDIS_URL"]
    os.environ["DRAMATIQ_NAMESPACE"] = os.environ["TESTS_BASE_NAMESPACE"]
if "REDIS_URL" not in os.environ:
    os.environ["TESTS_BASE_NAMESPACE"] = os.environ.get("DRAMATIQ_NAMESPACE", "dramatiq-test")
    os.environ["REDIS_URL"], os.environ["DRAMATIQ_NAMESPACE"] = per_xdist_worker(
        os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"), os.environ["TESTS_BASE_NAMESPACE"]
    )
    os.environ["TESTS_DERIVED_FOR"] = XDIST_WORKER
os.environ.setdefault("DRAMATIQ_NAMESPACE", "dramatiq-test")
os.environ.setdefault("DRAMATIQ_MIN_BACKOFF_MS", "200")
os.environ.setdefault("DRAMATIQ_MAX_BACKOFF_MS", "1000")
os.environ.setdefault("EMAIL_MAX_RETRIES", "3")
os.environ.setdefault("REPORTS_CHUNK_SIZE", "40")
os.environ.setdefault("EMAIL_RATE_PER_S", "100")
os.environ.setdefault("SIGNUP_RATE_PER_MINUTE", "100000")
os.environ.setdefault("PASSWORD_RESET_RATE_PER_MINUTE", "100000")
os.environ.setdefault("EMAIL_URL", "smtp://127.0.0.1:1")  # tests point it at their own SMTP server
os.environ.setdefault("ADMINS", "ops@example.com")
# Health alerts run when a test sends dramaturg.actors.check_health, not every minute under a test's scheduler.
os.environ.setdefault("JOBS_HEALTH_ALERT_CRON", "0 0 1 1 *")

from project.settings import *  # noqa: F403, E402
from project.settings import BASE_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"] in ("django.db.backends.sqlite3", "project.sqlite3"):
    # A file, not memory: worker processes must open the same test database.
    # TEST_SQLITE_NAME lets two checkouts' suites run side by side; under xdist pytest-django adds
    # "_gwN" to it, one file per worker.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("TEST_SQLITE_NAME", str(BASE_DIR / "var" / "test-db.sqlite3"))
    }
    (BASE_DIR / "var").mkdir(exist_ok=True)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Test doubles (inert unless a test sets their env var for its worker processes).
DRAMATIQ_BROKER["MIDDLEWARE"] = [*DRAMATIQ_BROKER["MIDDLEWARE"], "tests.middleware.FailChosenChunks"]  # noqa: F405
