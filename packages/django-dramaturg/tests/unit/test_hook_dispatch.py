"""HookDispatch calls the same hooks, in the same order, with the same error handling, as Dramatiq's broker,
only without the no-op calls (StubBroker: a unit of the broker's hook calls, no Redis)."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, MiddlewareError

from dramaturg.hook_dispatch import HookDispatch


class Dispatching(HookDispatch, StubBroker):
    pass


class Recording(Middleware):
    def __init__(self, name: str, calls: list[tuple[str, str, tuple]]) -> None:
        self.name, self.calls = name, calls

    def before_ack(self, broker: Any, *args: Any) -> None:
        self.calls.append((self.name, "before_ack", args))

    def after_ack(self, broker: Any, *args: Any) -> None:
        self.calls.append((self.name, "after_ack", args))


class Failing(Middleware):
    def __init__(self, calls: list[tuple[str, str, tuple]]) -> None:
        self.calls = calls

    def before_nack(self, broker: Any, *args: Any) -> None:
        self.calls.append(("failing", "before_nack", args))
        raise RuntimeError("a bug in a hook")

    def after_nack(self, broker: Any, *args: Any) -> None:
        self.calls.append(("failing", "after_nack", args))
        raise RuntimeError("a bug in a hook")


class Refusing(Middleware):
    def before_enqueue(self, broker: Any, *args: Any) -> None:
        raise MiddlewareError("refused")


class Quiet(Middleware):
    """Defines no hook: Dramatiq calls its no-ops, HookDispatch skips it."""


def stack(calls: list[tuple[str, str, tuple]]) -> list[Middleware]:
    return [Recording("a", calls), Quiet(), Failing(calls), Quiet(), Recording("b", calls)]


def calls_of(broker_class: type[StubBroker], play: Any) -> list[tuple[str, str, tuple]]:
    calls: list[tuple[str, str, tuple]] = []
    broker = broker_class(middleware=stack(calls))
    play(broker, calls)
    return calls


def both(play: Any) -> tuple[list, list]:
    return calls_of(StubBroker, play), calls_of(Dispatching, play)


def test_the_same_hooks_are_called_in_the_same_order():
    def play(broker: StubBroker, calls: list) -> None:
        for signal in ("ack", "nack", "process_message", "enqueue"):
            broker.emit_before(signal, "message")
            broker.emit_after(signal, "message")

    dramatiq_calls, dispatched_calls = both(play)
    assert dispatched_calls == dramatiq_calls
    assert [(name, hook) for name, hook, _ in dispatched_calls] == [
        ("a", "before_ack"),
        ("b", "before_ack"),
        ("b", "after_ack"),
        ("a", "after_ack"),
        ("failing", "before_nack"),  # logged, and the next middleware runs
        ("failing", "after_nack"),
    ]


def test_a_middleware_error_from_a_before_hook_still_propagates():
    for broker_class in (StubBroker, Dispatching):
        broker = broker_class(middleware=[Refusing()])
        with pytest.raises(MiddlewareError):
            broker.emit_before("enqueue", "message", 0)


def test_middleware_added_later_and_hooks_set_on_an_instance_are_called():
    def play(broker: StubBroker, calls: list) -> None:
        broker.emit_before("ack", "first")  # the hooks worked out for the first stack
        broker.add_middleware(Recording("late", calls))
        quiet = next(m for m in broker.middleware if isinstance(m, Quiet))
        broker.middleware.remove(quiet)
        quiet.before_ack = lambda broker, *args: calls.append(("patched", "before_ack", args))  # type: ignore[method-assign]
        broker.middleware.insert(0, quiet)
        broker.emit_before("ack", "second")

    dramatiq_calls, dispatched_calls = both(play)
    assert dispatched_calls == dramatiq_calls
    assert [name for name, _, args in dispatched_calls if args == ("second",)] == ["patched", "a", "b", "late"]


def test_a_hook_middleware_does_not_have_asks_every_middleware_as_dramatiq_does(caplog):
    for broker_class in (StubBroker, Dispatching):
        caplog.clear()
        broker_class(middleware=[Quiet(), Quiet()]).emit_after("no_such_signal")
        assert [r.levelname for r in caplog.records if r.levelname == "CRITICAL"] == ["CRITICAL", "CRITICAL"]
