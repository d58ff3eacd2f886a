"""ConfiguredRetries decides a failure as Dramatiq's Retries does (the same options, the same fail or
retry, the same backoff and callback), keeping the traceback dramaturg.tracebacks formatted once."""

from __future__ import annotations

import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.errors import Retry
from dramatiq.middleware import Retries

from dramaturg.middleware.retries import ConfiguredRetries
from dramaturg.tracebacks import traceback_text


class Broker:
    """What a Retries middleware asks of its broker: the actors, and the messages it enqueues again."""

    def __init__(self, **options: Any) -> None:
        self.sent: list[tuple[Any, ...]] = []
        callback = SimpleNamespace(options={}, send=lambda *args: self.sent.append(("callback", *args)))
        self.actors = {"job": SimpleNamespace(options=options), "on_exhausted": callback}
        self.enqueued: list[tuple[Any, ...]] = []

    def get_actor(self, name: str) -> Any:
        return self.actors[name]

    def enqueue(self, message: Any, delay: int | None = None) -> None:
        self.enqueued.append((message.options["retries"], delay))


class Throttled(Exception):
    pass


CASES = {
    "a retry with backoff": ({}, {"retries": 2}, lambda: ValueError("boom")),
    "out of retries": ({"max_retries": 3}, {"retries": 3}, lambda: ValueError("boom")),
    "out of retries, with a callback": (
        {"max_retries": 0, "on_retry_exhausted": "on_exhausted"},
        {},
        lambda: ValueError("boom"),
    ),
    "the message's own max_retries": ({"max_retries": 9}, {"retries": 1, "max_retries": 1}, lambda: ValueError("boom")),
    "an expected exception": ({"throws": (Throttled,)}, {"retries": 1}, lambda: Throttled("later")),
    "Retry with its delay": ({}, {}, lambda: Retry(delay=1234)),
    "retry_when says no": (
        {"retry_when": lambda retries, exc: retries < 1},
        {"retries": 1},
        lambda: ValueError("boom"),
    ),
    "retry_when says yes": ({"retry_when": lambda retries, exc: True}, {"retries": 7}, lambda: ValueError("boom")),
    "the actor's backoff": ({"min_backoff": 10, "max_backoff": 40}, {"retries": 5}, lambda: ValueError("boom")),
}


def decide(
    middleware: Retries, actor_options: dict, options: dict, error: Callable[[], BaseException]
) -> tuple[Any, ...]:
    broker = Broker(**actor_options)
    message = MessageProxy(Message(queue_name="q", actor_name="job", args=(), kwargs={}, options=dict(options)))
    random.seed(7)  # the backoff's jitter
    try:
        raise error()  # a new one for each middleware, as each failure is
    except BaseException as exc:
        middleware.after_process_message(broker, message, exception=exc)
    decided = {k: v for k, v in message.options.items() if k != "requeue_timestamp"}
    return decided, message.failed, broker.enqueued, [(kind, retries) for kind, _, retries in broker.sent]


@pytest.mark.parametrize("case", CASES)
def test_configured_retries_decide_as_dramatiqs(case, settings):
    actor_options, options, error = CASES[case]
    ours = ConfiguredRetries()
    theirs = Retries(max_retries=ours.max_retries, min_backoff=ours.min_backoff, max_backoff=ours.max_backoff)
    assert decide(ours, actor_options, options, error) == decide(theirs, actor_options, options, error)


def test_a_retry_keeps_the_traceback_its_log_line_and_dead_letter_show():
    broker = Broker()
    message = MessageProxy(Message(queue_name="q", actor_name="job", args=(), kwargs={}, options={}))
    try:
        raise ValueError("boom")
    except ValueError as exc:
        ConfiguredRetries().after_process_message(broker, message, exception=exc)
        assert message.options["traceback"] == traceback_text(exc)
    assert broker.enqueued and message.options["retries"] == 1
