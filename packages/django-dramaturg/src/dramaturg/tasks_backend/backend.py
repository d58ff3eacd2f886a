"""`DramatiqBackend`: Django's Tasks framework (`django.tasks`) on this project's Dramatiq workers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from django.core import checks
from django.db import router, transaction
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.utils import timezone
from django.utils.module_loading import import_string
from dramatiq import Message

from dramaturg import outbox
from dramaturg.models import OutboxMessage
from dramaturg.store import task_results
from dramaturg.store.keys import QUEUE_NAME_RE
from dramaturg.timeutil import from_ms, now_ms

from .registry import DramatiqTask, register, registered, registered_tasks
from .results import DEFAULT_RESULT_TTL_S, task_result


class DramatiqBackend(BaseTaskBackend):
    """Runs `@task` functions as Dramatiq actors on the project's Redis broker.

    - `enqueue()` inside a transaction records the message in the transactional outbox
      (nothing runs if it rolls back; the relay sends it if this process dies after the
      commit); outside one it enqueues at once. `run_after` makes a delayed message.
    - Results live in Redis (`dramaturg.store.task_results`) for `OPTIONS["RESULT_TTL_S"]`
      seconds after their last change; `get_result` also answers READY for a task still
      waiting in the outbox.
    - Priority is not supported: Dramatiq's Redis broker serves each queue in order, so
      a non-default priority is refused (`InvalidTask`) rather than silently ignored. Use
      a queue of its own (`queue_name`) for urgent work.
    """

    task_class = DramatiqTask
    supports_defer = True
    supports_async_task = True  # Task.call runs a coroutine function to completion in the worker thread
    supports_get_result = True
    supports_priority = False

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.result_ttl_s = self.options.get("RESULT_TTL_S", DEFAULT_RESULT_TTL_S)

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        if not QUEUE_NAME_RE.fullmatch(task.queue_name):
            raise InvalidTask(f"Queue {task.queue_name!r} is not a valid Dramatiq queue name.")

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult:
        """Send `task(*args, **kwargs)`; the result id is the Dramatiq message id.

        Arguments must be JSON (a `TypeError`/`ValueError` otherwise, as with Django's own
        backends, and nothing is sent)."""
        result, message = self._prepare(task, args, kwargs)
        delay_ms = None
        if task.run_after is not None:
            delay_ms = max(0, int((task.run_after - timezone.now()) / timedelta(milliseconds=1)))
        if transaction.get_connection(router.db_for_write(OutboxMessage)).in_atomic_block:
            if delay_ms is not None:  # kept as an absolute time: the relay may send it later
                message = message.copy(options={"eta": message.message_timestamp + delay_ms})
            row = outbox.enqueue_message_on_commit(message)
            # The relay stamps the message with the row's creation time: the stored record's.
            result = dataclasses.replace(result, enqueued_at=_to_ms(row.created_at))
        else:
            dramatiq.get_broker().enqueue(message, delay=delay_ms)
        return result

    def message(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> Message:
        """The message `enqueue` would send, to send yourself, e.g. many at once with the
        broker's `enqueue_many`. Its id is the result id; `run_after` is not supported here."""
        if task.run_after is not None:
            raise InvalidTask("A task message built for sending by hand cannot carry run_after; use enqueue().")
        return self._prepare(task, args, kwargs)[1]

    def _prepare(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[TaskResult, Message]:
        self.validate_task(task)
        register(task)
        # Milliseconds, as the message and the stored record keep it: what enqueue() returns is
        # what get_result() and refresh() give back.
        enqueued_ms = now_ms()
        result: TaskResult = TaskResult(
            task=task,
            id=str(uuid.uuid4()),
            status=TaskResultStatus.READY,
            enqueued_at=from_ms(enqueued_ms),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )  # its __post_init__ normalizes the arguments to JSON, or raises
        message: Message = Message(
            queue_name=task.queue_name,
            actor_name=task.module_path,
            args=tuple(result.args),
            kwargs=result.kwargs,
            options={"task_backend": self.alias},
            message_id=result.id,
            message_timestamp=enqueued_ms,
        )
        return result, message

    def accepts_queue(self, queue_name: str) -> bool:
        """Whether QUEUES allows `queue_name` (an empty QUEUES allows every queue, as in Django)."""
        return not self.queues or queue_name in self.queues

    def get_result(self, result_id: str) -> TaskResult:
        record = task_results.get(result_id)
        if record is None:
            pending = self._waiting_in_outbox(result_id)
            if pending is not None:
                return pending
            # Dispatched between the two reads: the relay records READY in Redis before it marks the row.
            record = task_results.get(result_id)
            if record is None:
                raise TaskResultDoesNotExist(result_id)
        return task_result(record, self._task(record.identity.task_path, result_id))

    def _task(self, path: str, result_id: str) -> Task:
        task = registered(path)
        if task is None:
            try:
                task = import_string(path)
            except ImportError:
                task = None
        if not isinstance(task, Task):
            raise TaskResultDoesNotExist(f"{result_id}: its task {path!r} no longer exists")
        return task

    def _waiting_in_outbox(self, result_id: str) -> TaskResult | None:
        """A task enqueued in a committed transaction whose message is not in Redis yet: READY."""
        try:
            message_id = uuid.UUID(result_id)
        except ValueError:
            return None
        row = OutboxMessage.objects.filter(message_id=message_id, dispatched_at__isnull=True).first()
        if row is None or row.options.get("task_backend") is None:
            return None
        task = self._task(row.actor_name, result_id)
        if row.queue_name != task.queue_name and self.accepts_queue(row.queue_name):
            task = task.using(queue_name=row.queue_name)
        return TaskResult(
            task=task,
            id=result_id,
            status=TaskResultStatus.READY,
            enqueued_at=_to_ms(row.created_at),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=row.args,
            kwargs=row.kwargs,
            backend=row.options["task_backend"],
            errors=[],
            worker_ids=[],
        )

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Misconfigurations, reported by `manage.py check` (and at every start) as jobs.E1xx."""
        where = f"TASKS[{self.alias!r}]"
        errors: list[checks.CheckMessage] = []
        # An empty QUEUES is Django's "no queue-name validation": any valid Dramatiq queue name goes.
        for queue in sorted(self.queues):
            if not QUEUE_NAME_RE.fullmatch(queue):
                errors.append(
                    checks.Error(
                        f"{where}['QUEUES'] names {queue!r}, which is not a valid Dramatiq queue.",
                        hint="A queue name is a letter or underscore, then letters, digits, '.', '_' or '-'.",
                        id="dramaturg.E102",
                    )
                )
        ttl = self.result_ttl_s
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            errors.append(
                checks.Error(
                    f"{where}['OPTIONS']['RESULT_TTL_S'] must be a positive number of seconds, not {ttl!r}.",
                    id="dramaturg.E103",
                )
            )
        # The middleware it needs (CurrentMessage, TaskResults) are checked with the rest: dramaturg.E008.
        if "RESULT_TTL" in self.options:
            errors.append(
                checks.Error(
                    f"{where}['OPTIONS']['RESULT_TTL'] is renamed; expected {where}['OPTIONS']['RESULT_TTL_S'] "
                    "(seconds).",
                    id="dramaturg.E104",
                )
            )
        if not hasattr(dramatiq.get_broker(), "client"):
            errors.append(
                checks.Error(
                    f"{self.__class__.__name__} keeps results in Redis: DRAMATIQ_BROKER must be a Redis broker.",
                    id="dramaturg.E105",
                )
            )
        for task in registered_tasks():
            if task.backend != self.alias:
                continue
            try:
                self.validate_task(task)
            except InvalidTask as error:  # defined under other settings, e.g. a queue since removed from QUEUES
                errors.append(
                    checks.Error(
                        f"Task {task.module_path}: {error}",
                        obj=task.module_path,
                        hint=f"Valid queues: {', '.join(sorted(self.queues))}.",
                        id="dramaturg.E106",
                    )
                )
        return errors


def _to_ms(moment: datetime) -> datetime | None:
    """`moment` to the millisecond, as a message's timestamp keeps it."""
    return from_ms(int(moment.timestamp() * 1000))
