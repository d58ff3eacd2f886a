"""The harness's fixtures as a pytest plugin (`pytest_plugins = ["harness.fixtures"]` in a conftest):
real Redis (a test namespace cleared around each test), a session worker process, an SMTP sink, the
suite's own PostgreSQL server, and each test marked with its tier from its directory."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import TransactionTestCase
from django.utils import translation

from dramaturg import store
from dramaturg.store import keys, stats
from dramaturg.timeutil import now_ms
from harness.ports import reserve_port
from harness.postgres_server import PostgresServer, unavailable_reason
from harness.processes import ManagedProcess, WorkerProcess, child_env, stop_all, wait_for
from harness.smtp_sink import SmtpSink

#: The password of the `staff` fixture's user, which the browser tests sign in with.
STAFF_PASSWORD = "ops-password-123"

TIERS = {
    "unit": "unit",
    "worker": "worker",
    "integration": "integration",
    "chromium": "browser",
    "upstream": "upstream",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test gets its tier's marker from its directory (tests/unit, tests/worker, tests/integration,
    tests/chromium, under the rootdir), so `-m` selects a tier across directories too; a file in tests/
    itself runs with every tier, unmarked."""
    for item in items:
        parts = Path(item.path).resolve().relative_to(config.rootpath).parts
        if len(parts) > 2 and parts[0] == "tests" and parts[1] in TIERS:
            item.add_marker(TIERS[parts[1]])
    items[:] = long_first(items, int(getattr(config, "workerinput", {}).get("workercount", 1)))


def long_first(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """The tests marked `long` (a minute or more) at the head of each xdist worker's first share.

    pytest-xdist's worksteal hands each of `workers` a contiguous share of the collection, then moves
    tests from the tail of a busy worker's queue to an idle one: a long test at the head of a share
    starts at once, instead of last, on a worker the others cannot relieve of it. Every worker collects
    the same order (it depends only on the collection and the number of workers)."""
    long = [item for item in items if item.get_closest_marker("long")]
    if not long:
        return items
    rest = iter([item for item in items if not item.get_closest_marker("long")])
    starts, position, remaining = [], 0, len(items)
    for k in range(workers):  # xdist's split: each idle worker gets len(pending) // workers_remaining
        starts.append(position)
        share = remaining // (workers - k)
        position, remaining = position + share, remaining - share
    slots: dict[int, pytest.Item] = {}
    for n, item in enumerate(long):
        slot = starts[n % workers] + n // workers
        while slot in slots:  # more long tests than a share holds: the next free place
            slot += 1
        slots[slot] = item
    return [slots[i] if i in slots else next(rest) for i in range(len(items))]


def _unregister_dead_workers() -> None:
    """Drop the registrations of this host's workers whose process is gone (killed at a test's end:
    no graceful shutdown unregistered them), so the next test's dashboard lists no leftover."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    host = socket.gethostname()
    for worker_id, info in conn.hgetall(keys.workers_key()).items():
        seen = json.loads(info)
        if seen.get("host") == host and not _alive(seen.get("pid")):
            stats.unregister_worker(worker_id.decode() if isinstance(worker_id, bytes) else worker_id)


def _alive(pid: int | None) -> bool:
    """A running process (a killed worker's children may linger as zombies until reaped: dead)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _clear_namespace() -> None:
    """Drop every message and statistic of the test namespace; keep the running
    worker's registration and heartbeat, which belong to the session."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    keep = (b":__heartbeats__", b":__jobs__:workers")
    keys = [k for k in conn.scan_iter(match=f"{settings.DRAMATIQ_NAMESPACE}:*", count=1000) if not k.endswith(keep)]
    if keys:
        conn.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def _flush_again_after_a_deadlock() -> Iterator[None]:
    """A transactional test ends with one TRUNCATE of every table. On PostgreSQL it can deadlock with a write a
    worker process still makes after the test's condition was met (a failed job's error mail: an outbox email
    and its outbox row, in one transaction); PostgreSQL aborts the TRUNCATE, the write commits, and the
    flush, tried again, goes through. (Django's TransactionTestCase._fixture_teardown, as of Django 6.1.)"""
    flush = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]  # not in django-stubs

    def flush_until_no_deadlock(self: TransactionTestCase) -> None:
        for attempt in range(3):
            try:
                return flush(self)
            except CommandError as error:
                if attempt == 2 or not (
                    isinstance(error.__cause__, OperationalError) and "deadlock detected" in str(error.__cause__)
                ):
                    raise

    TransactionTestCase._fixture_teardown = flush_until_no_deadlock  # type: ignore[attr-defined]
    yield
    TransactionTestCase._fixture_teardown = flush  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _no_language_left_active() -> Iterator[None]:
    """A request the test client made in Korean leaves Korean active in the test's thread; the next
    test (pytest-django runs the database tests first, then the transactional ones) starts in the default."""
    yield
    translation.deactivate()


@pytest.fixture
def settled_worker_stats(live) -> None:
    """`live`, once every live worker has published (once a second) after the test began, and the
    namespace cleared again: what a previous test's jobs recorded in a worker's memory, published
    after that test's clear, must not count in this test's figures."""
    conn = redis.Redis.from_url(settings.REDIS_URL)
    since = now_ms()

    def seen() -> dict[bytes | str, int]:
        return {w: json.loads(info).get("seen_ms", 0) for w, info in conn.hgetall(keys.workers_key()).items()}

    live = [w for w, at in seen().items() if at > since - 3_000]

    def published_or_gone() -> bool:
        # A worker that stopped cleanly meanwhile has left the list (its last figures published as it left);
        # one killed by an earlier test stays in it, silent: three missed publishes say it is gone.
        latest = seen()
        return all(latest.get(w, since + 1) > since or now_ms() - latest[w] > 3_000 for w in live)

    if live:
        wait_for(published_or_gone, timeout=10, what="the workers' next publish")
    _clear_namespace()


@pytest.fixture(scope="session")
def smtp_server():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> Iterator[SmtpSink]:
    smtp_server.reset()
    smtp_server.start()
    yield smtp_server
    smtp_server.reset()
    smtp_server.start()


@pytest.fixture
def outbox_mailers(settings, smtp: SmtpSink) -> SmtpSink:
    """MAILERS as a project sending through the outbox has them, in this process (Django's test runner makes
    every mailer locmem): "default" the outbox backend, handing to "smtp", the SMTP sink."""
    settings.MAILERS = {
        "default": {"BACKEND": "dramaturg.mail.OutboxEmailBackend", "OPTIONS": {"mailer": "smtp"}},
        "smtp": {"BACKEND": "dramaturg.mail.EmailBackend", "OPTIONS": {"host": "127.0.0.1", "port": smtp.port}},
    }
    return smtp


@pytest.fixture(scope="session")
def postgres_server_session() -> Iterator[PostgresServer]:
    """The suite's own PostgreSQL server (harness.postgres_server), started on first use, stopped and removed
    at the end of the session. Skips when the server binaries are not installed."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no PostgreSQL server of the suite's own: {reason}")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_server(postgres_server_session: PostgresServer) -> Iterator[PostgresServer]:
    """The suite's own PostgreSQL server, running at the start of the test and again after it (a test may
    stop, kill or restart it)."""
    if not postgres_server_session.alive:
        postgres_server_session.start()
    yield postgres_server_session
    if not postgres_server_session.alive:
        postgres_server_session.start()


@pytest.fixture
def redis_down(monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    """Redis down for this process: the broker's client (which the store and the pages read through)
    points at a port reserved for this test and listened on by nothing, so every Redis command meets
    a real refused connection."""
    dead = redis.Redis(host="127.0.0.1", port=reserve_port(), socket_connect_timeout=1, socket_timeout=1)
    monkeypatch.setattr(dramatiq.get_broker(), "client", dead)
    return dead


FAKE_HOST = "fake-host"  # the host of worker registrations a test writes itself (no process behind them)


@pytest.fixture
def fake_workers(clean_redis) -> Iterator[str]:
    """The host name for worker registrations the test publishes itself; they are dropped after the test,
    so that no other test's worker list shows them (lost)."""
    yield FAKE_HOST
    for worker in stats.workers(heartbeat_timeout_ms=0):
        if worker.host == FAKE_HOST:
            stats.unregister_worker(worker.worker_id)


@pytest.fixture(autouse=True)
def fresh_health_banner(monkeypatch):
    """Each test starts with nothing kept of the banner's checks (dramaturg.banner.KEEP_S, per process, so
    shared with an in-process live server): the first page a test renders runs them."""
    from dramaturg import banner  # after Django's set-up

    monkeypatch.setattr(banner, "REPORT", banner.Kept(banner.REPORT.compute, banner.KEEP_S))


@pytest.fixture
def clean_redis():
    """An empty test namespace (its own Redis database and key prefix; dev data is untouched)."""
    _clear_namespace()
    yield store
    _clear_namespace()


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, smtp_server: SmtpSink):
    """One real rundramatiq process (1 process x 2 threads) on the urgent queues, for the session.
    Its log shows Django's deprecation warnings (PendingDeprecationWarning subclasses), hidden by default."""
    env = child_env(EMAIL_URL=smtp_server.url, PYTHONWARNINGS="default::PendingDeprecationWarning")
    with django_db_blocker.unblock():
        process = WorkerProcess(env, queues=["emails", "default"]).start()
    yield process
    process.kill()  # the session is over: nothing waits on its graceful shutdown


@pytest.fixture
def live(live_server, worker, clean_redis, smtp, transactional_db):
    """A live HTTP server, a real worker and a real SMTP server over one test database."""
    return live_server


@pytest.fixture
def start_worker(django_db_blocker, smtp_server: SmtpSink):
    """Start extra rundramatiq processes (stopped after the test): start_worker(queues=[...], **env)."""
    started = []

    def start(queues: list[str], processes: int = 1, threads: int = 2, **env: str) -> ManagedProcess:
        with django_db_blocker.unblock():
            process = WorkerProcess(
                child_env(EMAIL_URL=smtp_server.url, **env), processes=processes, threads=threads, queues=queues
            )
        started.append(process)
        return process.start()

    yield start
    stop_all(started)
    _unregister_dead_workers()


@pytest.fixture
def staff(live, monkeypatch):
    """A superuser "ops@example.com" (the host's user model; signed in by the browser tests with
    STAFF_PASSWORD), made with bulk_create: no signal of the host's runs for it (no welcome email)."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User = get_user_model()
    names = {"email": "ops@example.com", User.USERNAME_FIELD: "ops@example.com"}  # accounts.User: the same field
    user = User(**names, is_staff=True, is_superuser=True)
    user.set_password(STAFF_PASSWORD)
    User.objects.bulk_create([user])
    return user
