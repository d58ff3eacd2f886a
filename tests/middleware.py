"""Test doubles installed as Dramatiq middleware by tests/settings.py; inert unless a test sets their env var."""

from __future__ import annotations

import os

from dramatiq.broker import Broker, MessageProxy
from dramatiq.middleware import Middleware, MiddlewareError


class InjectedFailure(MiddlewareError):
    """A failure a test asked for. A MiddlewareError, because the broker logs and swallows any other
    exception raised in a `before_` hook, while this one fails the message like an error in the actor."""


class FailChosenChunks(Middleware):
    """Make `compute_chunk` messages of the chunk indexes in TEST_FAIL_CHUNKS ("1,3") fail, on every attempt.

    The failure goes through Retries, the dead-letter set and `on_retry_exhausted`
    exactly as an error raised by the actor would.
    """

    def __init__(self) -> None:
        self.indexes = {int(i) for i in os.environ.get("TEST_FAIL_CHUNKS", "").split(",") if i.strip()}

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        if self.indexes and message.actor_name == "compute_chunk" and message.args[2] in self.indexes:
            raise InjectedFailure(f"chunk {message.args[2]} fails on purpose (TEST_FAIL_CHUNKS)")
