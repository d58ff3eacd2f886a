"""The smoke's checks, run by `manage.py shell < ci/smoke_check.py` in a fresh startproject.

A @task enqueued in a committed transaction runs once and its result is readable; one enqueued in a
rolled-back transaction never runs; the console answers a staff user and sends anonymous to the login.
"""

import sys
import time
from pathlib import Path

from demo.tasks import add
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.test import Client
from django.test.utils import setup_test_environment


def fail(step: str, why: str) -> None:
    print(f"smoke failed at step: {step}: {why}", file=sys.stderr)
    sys.exit(1)


def wait_for(step: str, condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    fail(step, f"not true within {timeout_s:.0f} s")


class RolledBack(Exception):
    pass


with transaction.atomic():
    first = add.enqueue(2, 3)
try:
    with transaction.atomic():
        rolled_back = add.enqueue(7, 7)
        raise RolledBack
except RolledBack:
    pass
sentinel = add.enqueue(1, 1)


def finished(result_id: str):
    result = add.get_result(result_id)
    return result if result.status == TaskResultStatus.SUCCESSFUL else None


done = wait_for("task result", lambda: finished(first.id))
if done.return_value != 5:
    fail("task result", f"return value {done.return_value!r}, expected 5")
wait_for("sentinel task", lambda: finished(sentinel.id))
ran = Path(settings.BASE_DIR, "ran.txt").read_text().splitlines()
if sorted(ran) != ["1 1", "2 3"]:
    fail("rolled-back task", f"ran.txt holds {ran!r}, expected exactly '2 3' and '1 1'")
try:
    add.get_result(rolled_back.id)
except TaskResultDoesNotExist:
    pass
else:
    fail("rolled-back task", "it has a result")

setup_test_environment()
staff = Client()
staff.force_login(get_user_model().objects.get(username="staff"))
page = staff.get("/jobs/")
if page.status_code != 200 or b"default" not in page.content:
    fail("console", f"staff got {page.status_code}")
anonymous = Client().get("/jobs/")
if anonymous.status_code != 302 or "login" not in anonymous["Location"]:
    fail("console", f"anonymous got {anonymous.status_code} {anonymous.get('Location')}")
print("smoke passed: task ran once, rolled-back task never ran, console staff-only")
