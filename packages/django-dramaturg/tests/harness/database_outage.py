"""The database going away under the processes a test started: the test database made unavailable for a while
(without stopping it), or the suite's own PostgreSQL server restarted; each at the moment a fault hook fires."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from harness.postgres_server import PostgresServer


def once(action: Callable[[], None]) -> Callable[[object], None]:
    """An SMTP sink's `on_accepted` hook that runs `action` at the first message accepted, on whichever
    thread (the sink accepts on several): one outage, not one per email."""
    first = threading.Lock()

    def run(_message: object) -> None:
        if first.acquire(blocking=False):
            action()

    return run


def restart_postgres(server: PostgresServer, down_s: float, restarted: threading.Event) -> None:
    """Stop the server now (fast shutdown) and start it again `down_s` later, then set `restarted`."""

    def start() -> None:
        server.start()
        restarted.set()

    server.stop()
    threading.Timer(down_s, start).start()


def column(url: str, query: str) -> list[object]:
    """The first column of `query` on the PostgreSQL database at `url`; [] while it does not answer."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return [row[0] for row in conn.execute(query)]
    except psycopg.OperationalError:
        return []


def migrate(env: dict[str, str]) -> None:
    """`migrate` in a child process with `env` (its DATABASE_URL a database of the test's own)."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--no-input"], cwd=settings.BASE_DIR, env=env, capture_output=True
    )
    assert result.returncode == 0, result.stderr


def writable() -> bool:
    """Another process may write to the test database now (SQLite: no process holds its write lock, the one
    `make_the_database_unavailable` takes; a PostgreSQL transaction holds no lock once its statement ended,
    paused client or not)."""
    if connection.vendor != "sqlite":
        return True
    conn = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=0.2)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def make_the_database_unavailable(seconds: float, released: threading.Event) -> None:
    """From this moment, for `seconds`, the workers cannot write: on SQLite another process (this one)
    holds the write lock, longer than their busy timeout; on PostgreSQL their connections are ended and
    new ones refused (the test's own server is shared, so no restart). `released` is set once it is over."""
    if connection.vendor == "sqlite":
        conn = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")  # the write lock

        def release() -> None:
            conn.execute("ROLLBACK")
            conn.close()
            released.set()

    else:
        import psycopg

        admin = psycopg.connect(
            host=connection.settings_dict["HOST"] or "127.0.0.1",
            port=connection.settings_dict["PORT"] or 5432,
            user=connection.settings_dict["USER"],
            password=connection.settings_dict["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        )
        name = connection.settings_dict["NAME"]
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])

        def release() -> None:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.close()
            released.set()

    threading.Timer(seconds, release).start()
