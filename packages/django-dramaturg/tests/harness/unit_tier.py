"""The unit tier's rule as a fixture: no Redis and no process. A unit test that opens a Redis connection or
starts a process fails, naming what it did; such a test belongs in the worker or integration tier.
A unit tier's conftest imports `unit_tier_rule` (autouse)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import redis.connection

from dramaturg.versions import code_version


@pytest.fixture(autouse=True)
def unit_tier_rule(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[None]:
    def no_redis(connection, *args, **kwargs):
        pytest.fail(f"a unit test opened a Redis connection ({connection!r}): move it to tests/worker")

    def no_process(popen, args, *rest, **kwargs):
        pytest.fail(f"a unit test started a process ({args!r}): move it to tests/integration")

    # pytest.fail raises a BaseException: code under test that catches Exception cannot hide it.
    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", no_redis)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    # The code version a worker records is DRAMATURG["CODE_VERSION"] (a host may fill it from git describe).
    settings.DRAMATURG = {**getattr(settings, "DRAMATURG", {}), "CODE_VERSION": "unit"}
    code_version.cache_clear()
    yield
    code_version.cache_clear()
