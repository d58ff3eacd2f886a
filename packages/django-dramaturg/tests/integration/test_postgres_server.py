"""The suite's own PostgreSQL server (harness.postgres_server): what the database-fault tests rely on."""

import subprocess

import psycopg
import pytest

from harness.postgres_server import PostgresServer

pytestmark = [pytest.mark.integration]


def postmasters(server: PostgresServer) -> list[str]:
    found = subprocess.run(["pgrep", "-f", "--", f"-D {server.data}"], capture_output=True, text=True)
    return found.stdout.split()


def test_a_committed_row_survives_a_fast_stop_a_kill_and_restarts_on_the_same_port(postgres_server):
    url = postgres_server.create_database("smoke")
    port = postgres_server.port
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (1)")
    held = psycopg.connect(url, autocommit=True)
    assert postmasters(postgres_server)

    postgres_server.stop()
    assert not postgres_server.answers()
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    assert postmasters(postgres_server) == []

    postgres_server.start()
    assert postgres_server.port == port
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO t VALUES (2)")

    postgres_server.kill()
    assert postmasters(postgres_server) == []
    postgres_server.restart()
    with psycopg.connect(url) as conn:
        assert [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")] == [1, 2]
