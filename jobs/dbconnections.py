"""The database went away: how our long-running loops and the web tell it, and reset the connection.

Django resets connections at the edges of a request (and django_dramatiq's DbConnectionsMiddleware at the
edges of a message); a loop of our own (the outbox relay) has no such edge, so it calls `reset_after(error)`
after a failed attempt: a connection the server closed (PostgreSQL restarted) is dropped, and the next attempt
opens a new one instead of failing with "the connection is closed" for as long as the process lives. A
healthy connection is kept between attempts (no new PostgreSQL backend per poll)."""

from __future__ import annotations

import contextlib
import logging

from django import db

logger = logging.getLogger(__name__)

# A lost or refused connection (PostgreSQL stopped or restarting), a lock not granted in time (SQLite's
# "database is locked"), a query cancelled by the server: the database cannot serve now, later it may.
# Not IntegrityError, DataError or ProgrammingError: those are the request's or the code's fault.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (db.OperationalError, db.InterfaceError)
# SQLite reports a missing table as an OperationalError too: a deployment mistake, not an outage.
_NOT_AN_OUTAGE = ("no such table", "no such column", "syntax error")


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve right now (as opposed to a bad query or bad data)."""
    if not isinstance(error, UNAVAILABLE_ERRORS):
        return False
    text = str(error).lower()
    return not any(marker in text for marker in _NOT_AN_OUTAGE)


def reset_after(error: BaseException) -> None:
    """After a failed attempt: if the database failed, close every connection of this thread, so the next
    attempt connects again (closing a connection the server already dropped may itself fail: ignored)."""
    if isinstance(error, db.Error):
        for connection in db.connections.all(initialized_only=True):
            with contextlib.suppress(Exception):
                connection.close()
