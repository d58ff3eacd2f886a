"""Workers, what they run, throughput and periodic runs: written by workers (dramaturg.middleware.JobStats),
read by the dashboard. Reads never write; forgetting long-gone workers is `forget_silent_workers`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dramatiq.common import q_name

from dramaturg.timeutil import now_ms

from . import actor_metrics, attempt_log, keys, recent
from .actor_metrics import ActorCounts
from .connection import client, text

MINUTE_TTL_S = 2 * 3600
FORGET_AFTER_MS = 3_600_000  # a registration silent this long is not listed (and is forgotten by the prune)


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int | None
    queues: list[str]
    started_at_ms: int | None
    last_heartbeat_ms: int
    alive: bool  # heartbeat within the broker's heartbeat timeout
    running: list[dict[str, Any]]  # empty for a lost worker: what it ran is not running any more
    version: str = "unknown"  # the code version it booted with
    threads: int | None = None  # its worker threads (None: registered before workers said)

    @property
    def state(self) -> str:
        """'alive', or 'lost' once its heartbeat is older than the timeout (killed, hung or cut off)."""
        return "alive" if self.alive else "lost"


def publish_worker_stats(
    worker_id: str,
    info: dict[str, Any],
    running: dict[str, dict] | None,
    counts: dict[int, tuple[int, int]],
    periodic: dict[str, dict],
    *,
    actors: Mapping[int, Mapping[str, ActorCounts]] | None = None,
    finished: Sequence[Sequence[Any]] = (),
    recent_limit: int = 10_000,
    recent_max_age_ms: int = 86_400_000,
    failures: Sequence[tuple[str, int, int, str]] = (),
) -> None:
    """One pipeline with what a worker process did since its last publish: its
    registration (`seen_ms` doubles as a heartbeat), the jobs it runs now (None:
    unchanged), processed/failed counts by epoch minute, periodic last runs,
    per-actor counts and runtimes by minute, the messages it finished, and its failed attempts."""
    pipe = client().pipeline(transaction=False)
    pipe.hset(keys.workers_key(), worker_id, json.dumps({**info, "seen_ms": now_ms()}))
    if info.get("queues"):  # the registry, again: a declaration made while Redis was down missed it
        pipe.sadd(keys.queues_key(), *(q_name(q) for q in info["queues"]))
    if running is not None:
        pipe.delete(keys.running_key(worker_id))
        if running:
            pipe.hset(keys.running_key(worker_id), mapping={k: json.dumps(v) for k, v in running.items()})
    for minute, (processed, failed) in counts.items():
        key = keys.minute_key(minute)
        pipe.hincrby(key, "processed", processed)
        pipe.hincrby(key, "failed", failed)
        pipe.expire(key, MINUTE_TTL_S)
    if counts:
        pipe.hincrby(keys.totals_key(), "processed", sum(p for p, _ in counts.values()))
        pipe.hincrby(keys.totals_key(), "failed", sum(f for _, f in counts.values()))
    if periodic:
        pipe.hset(keys.periodic_key(), mapping={k: json.dumps(v) for k, v in periodic.items()})
    if actors:
        actor_metrics.add_to_pipeline(pipe, actors)
    recent.add_to_pipeline(
        pipe,
        finished,
        worker=(worker_id, info.get("host"), info.get("pid")),
        limit=recent_limit,
        max_age_ms=recent_max_age_ms,
    )
    attempt_log.add_to_pipeline(pipe, failures, worker_id, recent_max_age_ms // 1000)
    pipe.execute()


def unregister_worker(worker_id: str) -> None:
    """Remove a worker's registration and running jobs (its clean shutdown)."""
    pipe = client().pipeline(transaction=False)
    pipe.hdel(keys.workers_key(), worker_id)
    pipe.delete(keys.running_key(worker_id))
    pipe.srem(keys.quiet_workers_key(), worker_id)
    pipe.execute()


def totals() -> dict[str, int]:
    """Processed, failed and dead-lettered counts since the start."""
    raw = client().hgetall(keys.totals_key())
    return {k: int(raw.get(k.encode(), 0)) for k in ("processed", "failed", "dead")}


def throughput(minutes: int = 60) -> list[tuple[int, int, int]]:
    """(epoch minute, processed, failed) for each of the last `minutes` minutes, oldest first."""
    now_minute = now_ms() // 60_000
    span = range(now_minute - minutes + 1, now_minute + 1)
    pipe = client().pipeline(transaction=False)
    for minute in span:
        pipe.hmget(keys.minute_key(minute), "processed", "failed")
    return [(m, int(p or 0), int(f or 0)) for m, (p, f) in zip(span, pipe.execute(), strict=True)]


def periodic_runs() -> dict[str, dict[str, Any]]:
    """Actor name -> {'last_run_ms', 'outcome'} of each periodic actor that has run."""
    return {text(k): json.loads(v) for k, v in client().hgetall(keys.periodic_key()).items()}


def _last_seen() -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    conn = client()
    pipe = conn.pipeline(transaction=False)
    pipe.zrange(keys.heartbeats_key(), 0, -1, withscores=True)
    pipe.hgetall(keys.workers_key())
    beats_raw, infos_raw = pipe.execute()
    beats = {k.decode(): int(v) for k, v in beats_raw}
    infos = {k.decode(): json.loads(v) for k, v in infos_raw.items()}
    return infos, {w: max(beats.get(w, 0), info.get("seen_ms", 0)) for w, info in infos.items()}


def workers(heartbeat_timeout_ms: int, forget_after_ms: int = FORGET_AFTER_MS) -> list[WorkerInfo]:
    """Registered worker processes, newest heartbeat first (read only).

    The broker's heartbeat set also holds every process that merely enqueued
    (web, scheduler), so only processes that registered as workers are listed.
    A worker silent for `heartbeat_timeout_ms` is lost: listed without running
    jobs (the broker puts its unacked messages back); one silent for
    `forget_after_ms` is not listed.
    """
    infos, last_seen = _last_seen()
    now = now_ms()
    ids = sorted((w for w in infos if now - last_seen[w] <= forget_after_ms), key=lambda w: -last_seen[w])
    alive = {w: now - last_seen[w] < heartbeat_timeout_ms for w in ids}
    pipe = client().pipeline(transaction=False)
    for worker_id in ids:
        if alive[worker_id]:
            pipe.hvals(keys.running_key(worker_id))
    running = iter(pipe.execute())
    result = []
    for worker_id in ids:
        info = infos[worker_id]
        jobs = next(running) if alive[worker_id] else []
        result.append(
            WorkerInfo(
                worker_id=worker_id,
                host=info.get("host", "?"),
                pid=info.get("pid"),
                queues=info.get("queues", []),
                started_at_ms=info.get("started_ms"),
                last_heartbeat_ms=last_seen[worker_id],
                alive=alive[worker_id],
                running=sorted((json.loads(j) for j in jobs), key=lambda j: j.get("started_ms", 0)),
                version=info.get("version", "unknown"),
                threads=info.get("threads"),
            )
        )
    return result


def forget_silent_workers(forget_after_ms: int = FORGET_AFTER_MS) -> int:
    """Drop registrations silent for `forget_after_ms` (killed, never shut down); returns how many."""
    infos, last_seen = _last_seen()
    now = now_ms()
    gone = [w for w in infos if now - last_seen[w] > forget_after_ms]
    for worker_id in gone:
        unregister_worker(worker_id)
    return len(gone)
