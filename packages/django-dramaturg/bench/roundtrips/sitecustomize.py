"""Counts Redis round trips as the client sees them, in any Python process started with this
directory on PYTHONPATH and BENCH_COUNT_PORT set (bench/run.py does so for every worker it starts):
every request redis-py sends to that port (one command, or one whole pipeline) is one round trip,
whether Dramatiq, Celery (kombu) or RQ sends it. Counts go, every 50 ms, to the counter Redis
(BENCH_COUNTER_URL) under `bench:rt:<BENCH_COUNT_ROLE>`; a thread per process, restarted after a fork.

Only for bench/run.py; the project never imports it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

_port = int(os.environ.get("BENCH_COUNT_PORT") or 0)
_state = {"pid": 0, "count": 0}
_lock = threading.Lock()


def _flusher(role: str) -> None:
    import redis

    counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])
    while True:
        time.sleep(0.05)
        with _lock:
            count, _state["count"] = _state["count"], 0
        if count:
            try:
                counter.incrby(f"bench:rt:{role}", count)
            except Exception:
                with _lock:
                    _state["count"] += count


def count(n: int = 1) -> None:
    if _state["pid"] != os.getpid():  # first call in this process (or in a forked child)
        _state["pid"] = os.getpid()
        _state["count"] = 0
        role = os.environ.get("BENCH_COUNT_ROLE", "worker")
        threading.Thread(target=_flusher, args=(role,), daemon=True, name="bench-roundtrips").start()
    with _lock:
        _state["count"] += n


def _flush_now() -> None:
    with _lock:
        count, _state["count"] = _state["count"], 0
    if count and _state["pid"] == os.getpid():
        import redis

        redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"]).incrby(
            f"bench:rt:{os.environ.get('BENCH_COUNT_ROLE', 'worker')}", count
        )


def install() -> None:
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command
    if getattr(original, "_bench_counted", False):
        return

    def send_packed_command(self, command, check_health=True):
        if getattr(self, "port", None) == _port:
            count()
        return original(self, command, check_health)

    send_packed_command._bench_counted = True  # type: ignore[attr-defined]
    AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]

    # A forked child that ends with os._exit (RQ's work horse, one per job) sends its count first.
    real_exit = os._exit

    def _exit(code: int) -> None:
        try:
            _flush_now()
        finally:
            real_exit(code)

    os._exit = _exit  # type: ignore[assignment]  # same behaviour, counted first


if _port:
    with contextlib.suppress(ImportError):  # a process without redis-py has nothing to count
        install()
