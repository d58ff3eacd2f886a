"""Paused queues: consumers stop fetching from a paused queue (dramaturg.broker), enqueues still land."""

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
