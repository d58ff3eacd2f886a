"""Isolation of pytest-xdist's workers, for a test settings module (importable before Django is set up).

pytest-xdist names each of its workers (gw0, gw1, ...) in PYTEST_XDIST_WORKER; its processes get
environments of their own, and the processes a test starts inherit them, so a child derives the same."""

from __future__ import annotations

import os
import re

#: This process's xdist worker ("gw0", ...), "" outside xdist.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def per_xdist_worker(redis_url: str, namespace: str, worker: str = XDIST_WORKER) -> tuple[str, str]:
    """Worker gwN's Redis database is the given one minus N, its namespace gets "-gwN"; the sessions
    of one run share nothing in Redis (the test database is suffixed by pytest-django)."""
    if not worker:
        return redis_url, namespace
    n = int(worker.removeprefix("gw"))
    match = re.fullmatch(r"(.*/)(\d+)(\?.*)?", redis_url)
    if not match or int(match[2]) < n:
        raise RuntimeError(f"TEST_REDIS_URL {redis_url!r} names no database >= {n} for xdist worker {worker}")
    return f"{match[1]}{int(match[2]) - n}{match[3] or ''}", f"{namespace}-{worker}"
