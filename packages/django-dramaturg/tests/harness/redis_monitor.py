"""What Redis runs, seen through a real MONITOR: which commands the test's own database received."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

from harness.processes import wait_for


@contextmanager
def redis_monitor() -> Iterator[list[dict]]:
    """Every command Redis runs meanwhile on the test's database (a real MONITOR, which sees the whole
    server: other sessions' databases are left out), as redis-py parses them."""
    seen: list[dict] = []
    sentinel = f"monitor-stop-{uuid.uuid4()}"
    conn = redis.Redis.from_url(settings.REDIS_URL)
    db = conn.connection_pool.connection_kwargs.get("db", 0)

    def listen(monitor) -> None:
        while True:
            command = monitor.next_command()
            if sentinel in command["command"]:
                return
            if command["db"] == db:
                seen.append(command)

    with conn.monitor() as monitor:
        thread = threading.Thread(target=listen, args=(monitor,), daemon=True)
        thread.start()
        conn.ping()  # MONITOR is on once it relays our own commands
        wait_for(lambda: any(c["command"] == "PING" for c in seen), what="MONITOR to relay commands")
        try:
            yield seen
        finally:
            conn.echo(sentinel)
            thread.join(10)


def paused_checks(commands: list[dict], queue: str, after: int) -> int:
    """How many times a consumer asked whether `queue` is paused, among MONITOR's commands after index `after`."""
    return sum(
        1
        for c in commands[after:]
        if c["command"].startswith("SISMEMBER")
        and c["command"].endswith(queue)
        and f"{settings.DRAMATIQ_NAMESPACE}:__jobs__:paused" in c["command"]
    )
