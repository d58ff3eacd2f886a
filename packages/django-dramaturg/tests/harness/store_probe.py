"""Test-only looks into the job store and the outbox, kept out of the package's production modules:
what tests (and benchmarks) check after the fact."""

from __future__ import annotations

from dramaturg.models import OutboxMessage
from dramaturg.store import keys
from dramaturg.store.connection import client, text


def pending_count() -> int:
    """Outbox rows not yet dispatched to the broker."""
    return OutboxMessage.objects.filter(dispatched_at__isnull=True).count()


def count_dead(queue: str) -> int:
    """How many dead letters `queue` holds."""
    return client().zcard(keys.dead_key(queue))


def unacked_by_any_worker(queue: str) -> set[str]:
    """Redis ids of `queue` (as consumed) that any worker fetched and has not acked (a scan)."""
    conn = client()
    found: set[str] = set()
    for key in conn.scan_iter(match=keys.acks_key("*", queue), count=1000):
        found.update(text(i) for i in conn.smembers(key))
    return found
