"""Django's Tasks framework on Dramatiq: `TASKS = {"default": {"BACKEND": "dramaturg.tasks_backend.DramatiqBackend"}}`.

`backend` (enqueue, results, checks), `registry` (each `@task` a Dramatiq actor, the worker-side
run), `results` (stored records as `TaskResult`s); the results' Redis side is
`dramaturg.store.task_results`, their bookkeeping on the worker `dramaturg.middleware.task_results`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DramatiqBackend", "DramatiqTask", "ReturnValueNotJSON", "task_message"]


def task_message(task: Any, *args: Any, **kwargs: Any) -> Any:
    """The Dramatiq message `task.enqueue(*args, **kwargs)` would send (see `DramatiqBackend.message`)."""
    return task.get_backend().message(task, args, kwargs)


def __getattr__(name: str) -> Any:
    # Lazy: the broker (and so dramaturg.middleware.task_results, which imports `registry`) is built
    # while apps are still loading, before `backend` may import models.
    if name == "DramatiqBackend":
        from .backend import DramatiqBackend

        return DramatiqBackend
    if name in ("DramatiqTask", "ReturnValueNotJSON"):
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
