"""Dramatiq's own Redis broker tests (tests/test_redis.py of the pinned Dramatiq) pass against the
package's broker: run by tests/upstream/dramatiq_suite/run.py on a redis-server of its own. All but the
three races the runner names, `test_redis_dead_lettered_messages_are_cleaned_up` included (16,000 jobs
failed on purpose: it took ~4 minutes while a nack left a consumer with a full prefetch window waiting the
worker timeout)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from harness.ports import reserve_port
from upstream.dramatiq_suite.run import SDIST_UNAVAILABLE


@pytest.mark.long  # started first on an xdist worker (harness.fixtures.long_first)
def test_dramatiqs_own_redis_broker_tests_pass_against_the_package_broker():
    run = subprocess.run(
        [sys.executable, "-m", "upstream.dramatiq_suite.run", "-q", "-rp", "-p", "no:logging"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )
    if run.returncode == SDIST_UNAVAILABLE:
        pytest.skip(run.stderr.strip()[-500:])
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
    assert "PASSED tests/test_redis.py::test_redis_dead_lettered_messages_are_cleaned_up" in run.stdout


def test_without_a_package_index_serving_the_sdist_the_runner_says_so_and_the_test_would_skip(tmp_path):
    """The skip above fires on the runner's own exit status: pip pointed at a port nothing listens on,
    no cache, no configuration, and a stage of the test's own (so no earlier download is found)."""
    env = {
        **os.environ,
        "UPSTREAM_DRAMATIQ_STAGE": str(tmp_path),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": f"http://127.0.0.1:{reserve_port()}/simple",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
    }
    env.pop("PIP_FIND_LINKS", None)
    run = subprocess.run(
        [sys.executable, "-m", "upstream.dramatiq_suite.run", "-q"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == SDIST_UNAVAILABLE, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stderr.startswith("Dramatiq's sdist could not be downloaded: ") and "Traceback" not in run.stderr
