"""Dramatiq's own Redis broker tests (tests/test_redis.py of the pinned Dramatiq) pass against the
project's broker: run by tests/upstream_dramatiq/run.py on a redis-server of its own.

In the suite, one of them is left out: `test_redis_dead_lettered_messages_are_cleaned_up` fails
16,000 jobs on purpose (~2.5 of the file's ~3 minutes) and exercises only Dramatiq's own nack and
maintenance scripts, which the project's broker does not change. The whole file:
`.venv/bin/python -m tests.upstream_dramatiq.run` (UPSTREAM_DRAMATIQ_FULL=1 here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.integration
def test_dramatiqs_own_redis_broker_tests_pass_against_the_project_broker():
    skip = (
        []
        if os.environ.get("UPSTREAM_DRAMATIQ_FULL") == "1"
        else ["--deselect", "tests/test_redis.py::test_redis_dead_lettered_messages_are_cleaned_up"]
    )
    run = subprocess.run(
        [sys.executable, "-m", "tests.upstream_dramatiq.run", "-q", "-p", "no:logging", *skip],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0 and "pip download" in run.stderr and "test_redis" not in run.stdout:
        pytest.skip(f"Dramatiq's sdist could not be downloaded: {run.stderr[-500:]}")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
