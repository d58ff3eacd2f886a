"""`ENGINE: "project.sqlite3"`: Django's SQLite backend, asking about JSON support without the write lock."""

from __future__ import annotations

from django.db import OperationalError
from django.db.backends.sqlite3 import base, features
from django.utils.functional import cached_property


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def supports_json_field(self) -> bool:  # type: ignore[override]  # a cached_property in Django, too
        """Whether SQLite has its JSON functions, asked with a plain read.

        Since Django 6.0 every management command's start-up checks include the
        model field checks against the database, so `rundramatiq`, `runserver` and
        the relay all ask this at start. Django asks inside `transaction.atomic()`,
        which with this project's `transaction_mode: IMMEDIATE` takes the write
        lock: a process starting while another holds a write waits `timeout`
        seconds, reads "database is locked" as "no JSON support" (fields.E180) and
        refuses to start. A read needs no lock (WAL).
        """
        with self.connection.cursor() as cursor:
            try:
                cursor.execute("""SELECT JSON('{"a": "b"}')""")
            except OperationalError:
                return False
        return True


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
