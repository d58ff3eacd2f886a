"""TaskResults records a task's failure once: the nack that dead-letters a task whose FAILED its last attempt
recorded writes nothing more (no Redis round trip); one whose FAILED did not land (Redis away, or no record to
settle yet) is recorded at the nack."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy

from dramaturg.middleware import task_results as middleware
from dramaturg.store import task_results


@pytest.fixture
def store(monkeypatch) -> SimpleNamespace:
    """The store calls the middleware makes (`calls`; none reach Redis: this is the unit tier), the next
    `refused` settles failing as with Redis away, the next `missing` finding no record to settle."""
    fake = SimpleNamespace(calls=[], refused=0, missing=0)
    monkeypatch.setattr(middleware, "registered", lambda name: SimpleNamespace(backend="default"))
    monkeypatch.setattr(middleware.TaskResults, "_backend", staticmethod(lambda message, task: ("default", None)))
    monkeypatch.setattr(task_results, "record_identity", lambda *args: fake.calls.append(("record_identity", args[0])))

    def settle(result_id: str, status: str, *args: Any, **kwargs: Any) -> bool:
        fake.calls.append(("settle", status))
        if fake.refused:
            fake.refused -= 1
            raise ConnectionError("Redis went away")
        if fake.missing:
            fake.missing -= 1
            return False
        return True

    monkeypatch.setattr(task_results, "settle", settle)
    return fake


def failed_for_good() -> MessageProxy:
    message = MessageProxy(Message(queue_name="q", actor_name="a_task", args=(), kwargs={}, options={}))
    message.fail()
    return message


def test_a_failure_recorded_by_its_last_attempt_costs_the_nack_nothing(store):
    message, results = failed_for_good(), middleware.TaskResults()
    results.after_process_message(None, message, exception=ValueError("boom"))
    results.after_nack(None, message)
    assert store.calls == [("settle", task_results.FAILED)]


@pytest.mark.parametrize("why", ["refused", "missing"])
def test_a_failure_redis_did_not_take_is_recorded_at_the_nack(store, why):
    message, results = failed_for_good(), middleware.TaskResults()
    setattr(store, why, 1)
    results.after_process_message(None, message, exception=ValueError("boom"))
    results.after_nack(None, message)
    failed = ("settle", task_results.FAILED)
    assert store.calls == [failed, ("record_identity", message.message_id), failed]
