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


def isolate_environment(url_var: str, namespace_var: str, url_default: str, namespace_default: str) -> tuple[str, str]:
    """The Redis URL and namespace in `url_var` and `namespace_var`, derived for this xdist worker once per
    process tree: the derived values go into this process's environment, marked, so the processes a test
    starts inherit them as they are, and a test that gives a child other values (its own redis-server)
    has them used unchanged. Returns (url, namespace)."""
    marker = "HARNESS_XDIST_DERIVED_FOR"
    if os.environ.get(marker) != XDIST_WORKER:
        url, namespace = per_xdist_worker(
            os.environ.get(url_var, url_default), os.environ.get(namespace_var, namespace_default)
        )
        os.environ[url_var], os.environ[namespace_var], os.environ[marker] = url, namespace, XDIST_WORKER
    return os.environ.get(url_var, url_default), os.environ.get(namespace_var, namespace_default)
