"""Dramatiq's own Redis broker tests (tests/test_redis.py of the pinned Dramatiq) pass against the
project's broker: run by tests/upstream_dramatiq/run.py on a redis-server of its own. All of them,
`test_redis_dead_lettered_messages_are_cleaned_up` too (16,000 jobs failed on purpose: it took
~4 minutes while a nack left a consumer with a full prefetch window waiting the worker timeout)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.integration
def test_dramatiqs_own_redis_broker_tests_pass_against_the_project_broker():
    run = subprocess.run(
        [sys.executable, "-m", "tests.upstream_dramatiq.run", "-q", "-rp", "-p", "no:logging"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0 and "pip download" in run.stderr and "test_redis" not in run.stdout:
        pytest.skip(f"Dramatiq's sdist could not be downloaded: {run.stderr[-500:]}")
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
    assert "PASSED tests/test_redis.py::test_redis_dead_lettered_messages_are_cleaned_up" in run.stdout
