"""Make sure the configured database exists, so `make setup` works on a fresh machine with any DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections


class Command(BaseCommand):
    help = (
        "Creates the database DATABASE_URL names if it does not exist yet (PostgreSQL: CREATE DATABASE through "
        "the server's 'postgres' database; SQLite: the file's folder). One line on any error, never a traceback."
    )
    requires_system_checks: list[str] = []  # nothing may touch the database before we know it exists

    def handle(self, **options) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        name = connection.settings_dict["NAME"]
        if connection.vendor == "sqlite":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            self.stdout.write(f"Database: SQLite file {name}")
            return
        try:
            connection.ensure_connection()
        except OperationalError as error:
            if connection.vendor != "postgresql" or f'database "{name}" does not exist' not in str(error):
                raise CommandError(
                    f"Cannot reach the {connection.vendor} database {name!r}: {_first_line(error)} "
                    "(is the server running, and are DATABASE_URL's host, user and password "
                    "right?)"
                ) from None
            self._create_postgresql(connection, name)
            return
        finally:
            connection.close()
        self.stdout.write(f"Database: {connection.vendor} {name!r} is there")

    def _create_postgresql(self, connection, name: str) -> None:
        import psycopg
        from psycopg import sql

        params = {**connection.get_connection_params(), "dbname": "postgres"}
        try:
            with psycopg.connect(**params, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass  # another process created it meanwhile
        except psycopg.Error as error:
            raise CommandError(
                f"Database {name!r} does not exist and could not be created: {_first_line(error)} "
                f"(create it yourself: createdb -h HOST -U USER {name})"
            ) from None
        self.stdout.write(f"Database: created PostgreSQL database {name!r}")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
