"""`@task` functions as Dramatiq actors: one actor per task, named by the task's module path.

The actor is registered when the task is defined, i.e. when its `tasks` module is
imported: web processes and workers import every app's `tasks` module
(`DramaturgConfig.ready`, `rundramatiq`), so both know every task. From then on the
task is an actor like any other: Retries, TimeLimit, dead letters, the dashboard
and JobStats treat it the same.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from django.tasks import Task, TaskContext, task_backends
from django.tasks.signals import task_started
from django.utils.json import normalize_json
from dramatiq.common import q_name
from dramatiq.middleware import CurrentMessage

from dramaturg.store import task_results
from dramaturg.timeutil import now_ms

from .results import identity_of, task_result

# Actor name (the task's module path) -> the task as defined by @task.
_tasks: dict[str, Task] = {}
_lock = threading.Lock()

# Set on the MessageProxy by the actor: the JSON of the task's return value, which the
# TaskResults middleware stores (the actor itself returns None, so Dramatiq discards nothing).
RETURN_JSON = "_jobs_task_return_json"


class ReturnValueNotJSON(TypeError):
    """A task returned a value JSON cannot hold: the task fails at once (no retry would help)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DramatiqTask(Task):
    """A `django.tasks.Task` that is also a Dramatiq actor.

    Extra `@task` arguments, for the actor: `max_retries` (default `DRAMATIQ_MAX_RETRIES`)
    and `time_limit` in ms (default Dramatiq's 10 minutes)."""

    max_retries: int | None = None
    time_limit: int | None = None

    def __post_init__(self) -> None:
        # Not super(): a slotted dataclass is a new class, which zero-argument super() does not know.
        Task.__post_init__(self)
        register(self)


def registered(actor_name: str) -> Task | None:
    """The task behind the Dramatiq actor `actor_name`, or None for a plain actor."""
    return _tasks.get(actor_name)


def registered_tasks() -> list[Task]:
    with _lock:
        return list(_tasks.values())


def register(task: Task) -> None:
    """Declare `task` as a Dramatiq actor named by its module path (once; `.using()` copies share it)."""
    name = task.module_path
    with _lock:
        if name in _tasks:
            return
        _tasks[name] = task
    broker = dramatiq.get_broker()
    for queue in sorted(task.get_backend().queues):  # every queue a `.using(queue_name=...)` may pick
        broker.declare_queue(queue)
    options: dict[str, Any] = {"throws": (ReturnValueNotJSON,)}
    for option in ("max_retries", "time_limit"):
        value = getattr(task, option, None)
        if value is not None:
            options[option] = value
    if name not in broker.actors:  # a module imported twice under one name keeps its first actor
        dramatiq.actor(actor_name=name, queue_name=task.queue_name, broker=broker, **options)(_runner(name, task))


def _runner(name: str, task: Task) -> Callable[..., None]:
    def run(*args: Any, **kwargs: Any) -> None:
        execute(name, args, kwargs)

    signature = inspect.signature(task.func)
    if task.takes_context:  # the context is the runner's to pass, not the message's
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    run.__signature__ = signature  # type: ignore[attr-defined]  # ValidateArguments checks messages against it
    run.__name__, run.__qualname__, run.__module__ = task.func.__name__, task.func.__qualname__, task.func.__module__
    run.__doc__ = task.func.__doc__
    return run


def execute(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Run one attempt of a task in a worker: mark it running, send `task_started`, call it
    (with its context if it takes one) and keep its JSON return value for TaskResults."""
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("Tasks need dramatiq.middleware.CurrentMessage in DRAMATIQ_BROKER['MIDDLEWARE']")
    task = _tasks[name]
    alias = message.options.get("task_backend", task.backend)
    backend = task_backends[alias]
    queue = q_name(message.queue_name)
    if queue != task.queue_name:
        task = task.using(queue_name=queue)
    record = task_results.record_started(
        message.message_id,
        identity_of(message, alias),
        _worker_id(),
        now_ms(),
        backend.result_ttl_s,  # type: ignore[attr-defined]  # ours: DramatiqBackend
    )
    result = task_result(record, task)
    task_started.send(type(backend), task_result=result)
    if task.takes_context:
        value = task.call(TaskContext(task_result=result), *args, **kwargs)
    else:
        value = task.call(*args, **kwargs)
    try:
        encoded = json.dumps(normalize_json(value))
    except (TypeError, ValueError) as error:
        raise ReturnValueNotJSON(f"{name} returned a value JSON cannot hold: {error}") from error
    setattr(message, RETURN_JSON, encoded)


def _worker_id() -> str:
    """The worker process's id: the broker id the dashboard lists workers by."""
    return str(getattr(dramatiq.get_broker(), "broker_id", "worker"))
