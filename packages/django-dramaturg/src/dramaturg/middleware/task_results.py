"""Results of django.tasks tasks (dramaturg.tasks_backend), kept as their messages move."""

from __future__ import annotations

import logging
from typing import Any

from django.tasks import Task, task_backends
from django.tasks.signals import task_enqueued, task_finished
from dramatiq.broker import Broker, MessageProxy
from dramatiq.message import Message
from dramatiq.middleware import Middleware

from dramaturg.broker import exception_of, message_of
from dramaturg.store import task_results
from dramaturg.tasks_backend.registry import RETURN_JSON, registered
from dramaturg.tasks_backend.results import DEFAULT_RESULT_TTL_S, identity_of, ready_result, task_result
from dramaturg.timeutil import now_ms
from dramaturg.tracebacks import traceback_text

logger = logging.getLogger(__name__)

# Set on a MessageProxy once its attempt's error is recorded, so the nack that follows a final
# failure does not record it twice, whichever order the middleware runs in.
_ERROR_RECORDED = "_jobs_task_error_recorded"
# Set once its FAILED is recorded: the nack that dead-letters it then has nothing to add (no round trip).
_FAILED_RECORDED = "_jobs_task_failed_recorded"


def _error(exception: BaseException, note: str = "") -> dict[str, str]:
    kind = type(exception)
    text = traceback_text(exception)
    return {
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": f"{text}{note}" if note else text,
    }


class TaskResults(Middleware):
    """Records each task result in Redis as its message moves, and sends Django's signals.

    - enqueued (in whichever process puts it in Redis: the web process, or the outbox relay):
      READY, and `task_enqueued` — once; a retry or a redelivery is an enqueue too;
    - an attempt that raised: its error (class and traceback), then READY if Retries will
      run it again, FAILED (and `task_finished`) if it is out of retries, or its exception
      is one the actor `throws`;
    - a run that returned: SUCCESSFUL with the JSON return value, and `task_finished`;
    - dead-lettered without running (arguments that do not fit, too old): FAILED.

    List it before Retries: after-hooks run in reverse order, so it then sees whether
    Retries gave the message up. A Redis error here is logged; the job itself is unaffected.
    Messages of plain actors are ignored.
    """

    def after_enqueue(self, broker: Broker, message: Message, delay: int | None) -> None:
        task = registered(message.actor_name)
        if task is None:
            return
        alias, backend = self._backend(message, task)
        eta = message.options.get("eta")
        ttl = _ttl(backend) + max(0, (int(eta) - now_ms()) // 1000 + 1 if eta else 0)
        identity = identity_of(message, alias)
        try:
            created = task_results.record_enqueued(message.message_id, identity, ttl)
        except Exception as error:
            logger.warning(
                "Result of task %s (%s) not recorded as enqueued: %s", message.message_id, message.actor_name, error
            )
            return
        if created and backend is not None:
            task_enqueued.send(type(backend), task_result=ready_result(task, message.message_id, identity))

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        task = registered(message.actor_name)
        if task is None:
            return
        if exception is None:
            self._settle(message, task, task_results.SUCCESSFUL, return_json=vars(message).get(RETURN_JSON, "null"))
        else:
            setattr(message, _ERROR_RECORDED, True)
            status = task_results.FAILED if message.failed else task_results.READY
            if self._settle(message, task, status, error=_error(exception)) and status == task_results.FAILED:
                setattr(message, _FAILED_RECORDED, True)  # FAILED written, the result finished by it

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        """Dead-lettered: FAILED, if the attempt did not say so already (e.g. skipped before it ran)."""
        task = registered(message.actor_name)
        if task is None or vars(message).get(_FAILED_RECORDED):
            return
        error = None
        if not vars(message).get(_ERROR_RECORDED):
            reason = message.options.get("dead_letter_reason") or "Rejected by middleware before it ran"
            exception = exception_of(message)
            error = (
                _error(exception, f"\n{reason}\n")
                if exception is not None
                else {"exception_class_path": "dramatiq.middleware.SkipMessage", "traceback": reason}
            )
        alias, backend = self._backend(message, task)
        try:  # rejected before it ran: its record may not exist yet (see record_identity)
            task_results.record_identity(message.message_id, identity_of(message_of(message), alias), _ttl(backend))
        except Exception as failure:
            logger.warning("Result of task %s (%s) not recorded: %s", message.message_id, message.actor_name, failure)
            return
        self._settle(message, task, task_results.FAILED, error=error, only_if_unfinished=True)

    def _settle(
        self,
        message: MessageProxy,
        task: Task,
        status: str,
        *,
        error: dict[str, str] | None = None,
        return_json: str = "",
        only_if_unfinished: bool = False,
    ) -> bool:
        """Record the attempt's end as `status`: True if this finished the result (a final status written for the
        first time); False if not, because its record is missing (expired, or never written: Redis was away when
        the attempt started, or the enqueuer's record is late) or Redis did not answer (logged)."""
        _, backend = self._backend(message, task)
        try:
            finished = task_results.settle(
                message.message_id,
                status,
                now_ms(),
                _ttl(backend),
                error=error,
                return_json=return_json,
                only_if_unfinished=only_if_unfinished,
            )
            record = task_results.get(message.message_id) if finished and backend is not None else None
        except Exception as failure:
            logger.warning(
                "Result of task %s (%s) not recorded as %s: %s", message.message_id, message.actor_name, status, failure
            )
            return False
        if record is not None:
            task_finished.send(type(backend), task_result=task_result(record, task))
        return finished

    @staticmethod
    def _backend(message: Message | MessageProxy, task: Task) -> tuple[str, Any]:
        alias = message.options.get("task_backend", task.backend)
        try:
            return alias, task_backends[alias]
        except Exception:  # a message from a process configured with another TASKS
            logger.warning("Task message %s names the unknown task backend %r", message.message_id, alias)
            return alias, None


def _ttl(backend: Any) -> int:
    return int(getattr(backend, "result_ttl_s", DEFAULT_RESULT_TTL_S))
