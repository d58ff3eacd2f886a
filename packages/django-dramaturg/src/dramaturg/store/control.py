"""What operators switch off: paused queues (consumers stop fetching from them, dramaturg.broker; enqueues
still land), quiet workers (told to stop taking work: their consumers fetch nothing more, the jobs they
hold finish) and disabled periodic actors (the scheduler, dramaturg.periodic, skips their runs)."""

from __future__ import annotations

import redis
from dramatiq.common import q_name

from . import keys
from .connection import client, text


def pause(queue: str) -> bool:
    """Pause `queue` for every worker; False if it was paused already."""
    return bool(client().sadd(keys.paused_key(), q_name(queue)))


def resume(queue: str) -> bool:
    """Resume `queue`; False if it was not paused."""
    return bool(client().srem(keys.paused_key(), q_name(queue)))


def paused_queues(conn: redis.Redis | None = None) -> set[str]:
    """The paused queues (one SMEMBERS)."""
    return {text(name) for name in (conn or client()).smembers(keys.paused_key())}


def is_paused(queue: str, conn: redis.Redis | None = None) -> bool:
    """Whether `queue` (its canonical name) is paused; `conn` for a broker's own client."""
    return bool((conn or client()).sismember(keys.paused_key(), q_name(queue)))


def fetch_stopped(queue: str, worker_id: str, conn: redis.Redis) -> bool:
    """Whether a consumer of `queue` (as consumed: `<q>.DQ` is a delay queue) in worker `worker_id` must
    not fetch: its queue is paused (a delay queue never is), or its worker was told to stop taking work.
    One round trip."""
    pipe = conn.pipeline(transaction=False)
    pipe.sismember(keys.quiet_workers_key(), worker_id)
    if not queue.endswith(".DQ"):
        pipe.sismember(keys.paused_key(), q_name(queue))
    return any(pipe.execute())


def quiet_worker(worker_id: str) -> bool:
    """Tell worker `worker_id` to stop taking work (its running jobs finish); False if it was told already."""
    return bool(client().sadd(keys.quiet_workers_key(), worker_id))


def wake_worker(worker_id: str) -> bool:
    """Let worker `worker_id` take work again; False if it was not quiet."""
    return bool(client().srem(keys.quiet_workers_key(), worker_id))


def quiet_workers() -> set[str]:
    """The workers told to stop taking work (one SMEMBERS)."""
    return {text(w) for w in client().smembers(keys.quiet_workers_key())}


def disable_periodic(actor_name: str) -> bool:
    """Tell the scheduler to skip `actor_name`'s runs (kept in Redis: it holds across restarts); False if it was."""
    return bool(client().sadd(keys.periodic_disabled_key(), actor_name))


def enable_periodic(actor_name: str) -> bool:
    """Let the scheduler send `actor_name` again; False if it was not disabled."""
    return bool(client().srem(keys.periodic_disabled_key(), actor_name))


def disabled_periodic(conn: redis.Redis | None = None) -> set[str]:
    """The periodic actors an operator disabled (one SMEMBERS)."""
    return {text(name) for name in (conn or client()).smembers(keys.periodic_disabled_key())}
