"""Stored task records (dramaturg.store.task_results) as django.tasks `TaskResult`s, and back."""

from __future__ import annotations

from typing import Any

from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.base import TaskError
from dramatiq import Message
from dramatiq.common import q_name

from dramaturg.store.task_results import TaskIdentity, TaskRecord
from dramaturg.timeutil import from_ms

DEFAULT_RESULT_TTL_S = 86_400  # TASKS[...]["OPTIONS"]["RESULT_TTL_S"] when unset


def identity_of(message: Message, alias: str) -> TaskIdentity:
    """What a task message says was enqueued (the message id is the result id)."""
    return TaskIdentity(
        task_path=message.actor_name,
        backend=alias,
        queue=q_name(message.queue_name),
        args=list(message.args),
        kwargs=dict(message.kwargs),
        enqueued_ms=message.message_timestamp,
    )


def _on_its_queue(task: Task, identity: TaskIdentity) -> Task:
    """`task` as it was enqueued: `.using(queue_name=...)` when its message went to another queue
    that QUEUES allows (an empty QUEUES allows any)."""
    backend = task.get_backend()
    if identity.queue != task.queue_name and (not backend.queues or identity.queue in backend.queues):
        return task.using(queue_name=identity.queue)
    return task


def task_result(record: TaskRecord, task: Task) -> TaskResult:
    """The record as the TaskResult `get_result` returns."""
    identity = record.identity
    result: TaskResult = TaskResult(
        task=_on_its_queue(task, identity),
        id=record.result_id,
        status=TaskResultStatus(record.status),
        enqueued_at=from_ms(identity.enqueued_ms),
        started_at=from_ms(record.started_ms),
        finished_at=from_ms(record.finished_ms),
        last_attempted_at=from_ms(record.last_attempted_ms),
        args=identity.args,
        kwargs=identity.kwargs,
        backend=identity.backend,
        errors=[
            TaskError(exception_class_path=e["exception_class_path"], traceback=e["traceback"]) for e in record.errors
        ],
        worker_ids=list(record.worker_ids),
    )
    _set_return_value(result, record.return_value)
    return result


def ready_result(task: Task, result_id: str, identity: TaskIdentity) -> TaskResult:
    """A task just enqueued: READY, nothing run yet."""
    return TaskResult(
        task=_on_its_queue(task, identity),
        id=result_id,
        status=TaskResultStatus.READY,
        enqueued_at=from_ms(identity.enqueued_ms),
        started_at=None,
        finished_at=None,
        last_attempted_at=None,
        args=identity.args,
        kwargs=identity.kwargs,
        backend=identity.backend,
        errors=[],
        worker_ids=[],
    )


def _set_return_value(result: TaskResult, value: Any) -> None:
    object.__setattr__(result, "_return_value", value)  # TaskResult is frozen; Django's backends do the same
