"""Results of django.tasks tasks run by Dramatiq (dramaturg.tasks_backend), kept with a TTL.

Written by the process that puts the message in Redis (`record_enqueued`) and by the
worker that runs it (`record_started`, `settle`); read by `get`. Each write renews the
TTL, so a result is kept for the TTL after its last change. Statuses are the values of
`django.tasks.TaskResultStatus`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import keys
from .connection import client, script

READY, RUNNING, SUCCESSFUL, FAILED = "READY", "RUNNING", "SUCCESSFUL", "FAILED"


@dataclass(frozen=True)
class TaskIdentity:
    """What was enqueued: written once (HSETNX), by whichever of enqueuer and worker comes first."""

    task_path: str
    backend: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    enqueued_ms: int

    def fields(self) -> dict[str, str]:
        return {
            "task": self.task_path,
            "backend": self.backend,
            "queue": self.queue,
            "args": json.dumps(self.args),
            "kwargs": json.dumps(self.kwargs),
            "enqueued_ms": str(self.enqueued_ms),
        }


@dataclass(frozen=True)
class TaskRecord:
    result_id: str
    identity: TaskIdentity
    status: str
    started_ms: int | None
    last_attempted_ms: int | None
    finished_ms: int | None
    worker_ids: list[str]
    errors: list[dict[str, str]]  # {"exception_class_path": ..., "traceback": ...}, one per failed attempt
    return_value: Any  # the JSON return value; None unless SUCCESSFUL


def _keys(result_id: str) -> list[str]:
    return [keys.task_result_key(result_id), keys.task_workers_key(result_id), keys.task_errors_key(result_id)]


def _int(value: bytes | None) -> int | None:
    return int(value) if value else None


def _record(result_id: str, fields: dict[bytes, bytes], workers: list[bytes], errors: list[bytes]) -> TaskRecord | None:
    if b"task" not in fields:
        return None
    identity = TaskIdentity(
        task_path=fields[b"task"].decode(),
        backend=fields.get(b"backend", b"default").decode(),
        queue=fields.get(b"queue", b"default").decode(),
        args=json.loads(fields.get(b"args", b"[]")),
        kwargs=json.loads(fields.get(b"kwargs", b"{}")),
        enqueued_ms=int(fields.get(b"enqueued_ms", b"0")),
    )
    return TaskRecord(
        result_id=result_id,
        identity=identity,
        status=fields.get(b"status", READY.encode()).decode(),
        started_ms=_int(fields.get(b"started_ms")),
        last_attempted_ms=_int(fields.get(b"last_attempted_ms")),
        finished_ms=_int(fields.get(b"finished_ms")),
        worker_ids=[w.decode() for w in workers],
        errors=[json.loads(e) for e in errors],
        return_value=json.loads(fields[b"return_value"]) if b"return_value" in fields else None,
    )


def record_enqueued(result_id: str, identity: TaskIdentity, ttl_s: int) -> bool:
    """Record a task as READY unless it is known already (a retry or a redelivery is also an
    enqueue, and a fast worker may have started it). True if this call created the record."""
    hash_key = keys.task_result_key(result_id)
    pipe = client().pipeline(transaction=True)
    pipe.hsetnx(hash_key, "enqueued", "1")
    pipe.hsetnx(hash_key, "status", READY)
    for field, value in identity.fields().items():
        pipe.hsetnx(hash_key, field, value)
    pipe.expire(hash_key, ttl_s)
    return bool(pipe.execute()[0])


def record_identity(result_id: str, identity: TaskIdentity, ttl_s: int) -> None:
    """What the message says was enqueued, where it is not known yet: a worker that rejects a message
    (its arguments do not fit) can be faster than the enqueuing process's `record_enqueued`, and its
    FAILED must land on a record that `record_enqueued` then completes (its READY never overwrites)."""
    hash_key = keys.task_result_key(result_id)
    pipe = client().pipeline(transaction=True)
    for field, value in identity.fields().items():
        pipe.hsetnx(hash_key, field, value)
    pipe.expire(hash_key, ttl_s)
    pipe.execute()


def record_started(result_id: str, identity: TaskIdentity, worker_id: str, now_ms: int, ttl_s: int) -> TaskRecord:
    """Mark an attempt started by `worker_id`, in one transaction, and return the record as it now is."""
    hash_key, workers_key, errors_key = all_keys = _keys(result_id)
    pipe = client().pipeline(transaction=True)
    for field, value in identity.fields().items():
        pipe.hsetnx(hash_key, field, value)
    pipe.hset(hash_key, mapping={"status": RUNNING, "last_attempted_ms": str(now_ms)})
    pipe.hsetnx(hash_key, "started_ms", str(now_ms))
    pipe.hdel(hash_key, "finished_ms", "return_value")  # a redelivered task runs again
    pipe.rpush(workers_key, worker_id)
    for key in all_keys:
        pipe.expire(key, ttl_s)
    pipe.hgetall(hash_key)
    pipe.lrange(workers_key, 0, -1)
    pipe.lrange(errors_key, 0, -1)
    *_, fields, workers, errors = pipe.execute()
    record = _record(result_id, fields, workers, errors)
    assert record is not None  # its identity was just written
    return record


def settle(
    result_id: str,
    status: str,
    now_ms: int,
    ttl_s: int,
    *,
    error: dict[str, str] | None = None,
    return_json: str = "",
    only_if_unfinished: bool = False,
) -> bool:
    """End an attempt with `status` (READY: to be retried), recording its error or return value.
    True if this call finished the result (SUCCESSFUL or FAILED for the first time in this run).
    One round trip (lua/settle_task_result.lua); a record that expired is not recreated."""
    conn = client()
    final = status in (SUCCESSFUL, FAILED)
    return bool(
        script("settle_task_result", conn)(
            keys=_keys(result_id),
            args=[
                status,
                now_ms,
                json.dumps(error) if error else "",
                return_json,
                ttl_s,
                int(only_if_unfinished),
                int(final),
            ],
            client=conn,
        )
    )


def get(result_id: str) -> TaskRecord | None:
    """The record of `result_id`, or None if unknown or expired."""
    hash_key, workers_key, errors_key = _keys(result_id)
    pipe = client().pipeline(transaction=True)
    pipe.hgetall(hash_key)
    pipe.lrange(workers_key, 0, -1)
    pipe.lrange(errors_key, 0, -1)
    fields, workers, errors = pipe.execute()
    return _record(result_id, fields, workers, errors)
