"""Sends the mail server accepted but the database has not recorded yet (dramaturg.sendonce parks them here).

One key per row, `<ns>:__jobs__:sent:<app_label.model>:<pk>`, kept `ttl_s`: while it exists, a worker
that claims the row marks it sent instead of sending it again.
"""

from __future__ import annotations

from .connection import client
from .keys import jobs_key


def _key(table: str, pk: int) -> str:
    return jobs_key("sent", table, str(pk))


def park_sent(table: str, pk: int, ttl_s: int) -> None:
    """Note that row `pk` of `table` was accepted by the mail server."""
    client().set(_key(table, pk), 1, ex=ttl_s)


def is_parked(table: str, pk: int) -> bool:
    """Whether row `pk` of `table` was accepted by the mail server before the database could record it."""
    return bool(client().exists(_key(table, pk)))


def unpark(table: str, pk: int) -> None:
    """Forget the note once the database holds the outcome."""
    client().delete(_key(table, pk))
