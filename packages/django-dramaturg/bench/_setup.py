"""Shared start of the benchmarks: Django on a Redis database and SQLite file of their own, and the
redis-servers of their own that bench/run.py, bench/redis_cpu.py and bench/chaos.py start."""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free on loopback, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def redis_command(port: int, directory: Path | str, *options: str) -> list[str]:
    """A redis-server of the bench's own: loopback only, no RDB snapshots, its files in `directory`;
    `options` add to it (persistence: "--appendonly", "yes", "--appendfsync", "always"; "--logfile", ...)."""
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(directory), *options]


def redis_answers(port: int) -> bool:
    """Whether the redis-server on `port` answers a PING (within half a second)."""
    import redis

    with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False


def wait_for_redis(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not redis_answers(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on {port} did not start")
        time.sleep(0.05)


def setup_django(namespace: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["DRAMATIQ_NAMESPACE"] = namespace
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / f'bench-{namespace}.sqlite3'}")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    (ROOT / "var").mkdir(exist_ok=True)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("ensure_redis", url=os.environ["REDIS_URL"])
    call_command("migrate", verbosity=0)


def clear_namespace(namespace: str) -> None:
    import redis

    conn = redis.Redis.from_url(os.environ["REDIS_URL"])
    batch = []
    for key in conn.scan_iter(match=f"{namespace}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            conn.unlink(*batch)
            batch.clear()
    if batch:
        conn.unlink(*batch)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """(median, min, max) wall time in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples), max(samples)
