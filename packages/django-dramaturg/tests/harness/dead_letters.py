"""Real dead letters, made by the real worker from real actors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dramatiq import Message, get_broker

from dramaturg.store import dead_letters, delayed
from dramaturg.store.filters import MessageFilter
from harness.processes import wait_for


def filed(queue: str) -> int:
    """Dead letters of `queue` filed by DeadLetterDetails (grouped, with a preview; with the nack on the
    project's broker, after it on another), so waiting for it means the list pages show them complete."""
    return sum(g.count for g in dead_letters.dead_groups(MessageFilter(queue=queue)))


def poison(count: int = 1, queue: str = "emails", args: tuple = (), kwargs: dict | None = None) -> list[str]:
    """Messages for an actor that does not exist: the worker dead-letters them (ActorNotFound)."""
    broker = get_broker()
    messages: list[Message[Any]] = [
        Message(queue_name=queue, actor_name="no_such_actor", args=args, kwargs=kwargs or {}, options={})
        for _ in range(count)
    ]
    before = filed(queue)
    for message in messages:
        broker.enqueue(message)
    wait_for(lambda: filed(queue) >= before + count, timeout=30, what=f"{count} poison letters")
    return [m.message_id for m in messages]


def failed_emails[Row](
    smtp, owe: Callable[[str], Row], addresses: list[str], reply: str = "554 5.7.1 Rejected by test policy"
) -> list[Row]:
    """Owe each address an email with `owe` (its row and job, e.g. the host's demo.tasks.notify) while the
    SMTP server refuses mail; wait for their messages to die (on the emails queue)."""
    smtp.handler.reply = reply
    before = filed("emails")
    rows = [owe(address) for address in addresses]
    wait_for(lambda: filed("emails") >= before + len(rows), timeout=60, what="the emails to be dead-lettered")
    return rows


def requeue_in_redis_only(refs: list[dead_letters.DeadLetterRef]) -> int:
    """Requeue dead letters in Redis alone, as `actions.perform` does but without its audit entry or
    owed rows: for tests that run without a database. Returns how many were requeued."""
    return len(dead_letters.take_dead(refs, requeue=True))


def kill_in_redis_only(refs: list[delayed.MessageRef]) -> int:
    """Kill waiting retries in Redis alone, leaving what they owed still owed (no `actions.perform`):
    a dead letter whose row is pending, as a crash between the two would leave it."""
    return len(delayed.take_messages(refs, delayed.KILL))
