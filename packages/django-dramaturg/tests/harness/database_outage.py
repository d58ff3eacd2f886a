"""The test database made unavailable to the processes a test started, for a while, without stopping it."""

from __future__ import annotations

import sqlite3
import threading

from django.db import connection


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
