"""Failing jobs at full speed, and the SMTP rate limiter's cost per email, side by side in one run.

    .venv/bin/python packages/django-dramaturg/bench/failing_drain.py [--messages 2000] [--emails 100] [--repeats 3]

1. Drain: `--messages` jobs that always fail (`max_retries=0`) drained to the dead letters by one
   worker process x 8 threads (`dramatiq_queue_prefetch=64`, the Procfile's; one process, so that
   no second one still booting skews a drain this short), this package (its broker and middleware, on the
   host project's settings: bench/settings.py) and its broker under Dramatiq's default middleware against
   stock Dramatiq's RedisBroker with its default middleware, the runs interleaved. Messages/s from the
   first dead letter to the last, the worker's Redis round trips per message (bench/roundtrips/), its
   CPU per message over the same window, and the longest pause in the dead letters' growth (a consumer
   waiting out its worker timeout shows here). The jobs all fail alike (one error, as when a service they
   need is down: a failure that repeats is formatted once per process, dramaturg/tracebacks.py), and then,
   this package against stock Dramatiq again, with no two failures alike (each error names its job).
2. Rate limiter: `--emails` SMTP slots taken at the default `EMAIL_RATE_PER_S` by 16 threads
   (2 workers x 8 threads' worth), the way `dramaturg.sendonce` takes them (`acquire_within`, 10 s), with
   the token bucket (jobs/limits.py) and with the limiter it replaced (Dramatiq's WindowRateLimiter
   polled every 50 ms): Redis round trips per email, emails/s, and the most in any one second.

Uses redis-servers of its own (the system under test; the counters) and the round-trip hook
(bench/_setup.py). Prints a table and writes it to bench/results/failing_drain.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench import _setup

QUEUE = "bench-fail"
PROJECT, BROKER_ONLY, STOCK = (
    "this package (its broker and middleware)",
    "this package's broker, Dramatiq's default middleware",
    "stock Dramatiq (RedisBroker, default middleware)",
)
PROJECT_DIFFERENT, STOCK_DIFFERENT = (
    "this package, no two failures alike",
    "stock Dramatiq, no two failures alike",
)
WORKER_ARGS = ["-m", "dramatiq", "--path", ".", "--processes", "1", "--threads", "8"]
PREFETCH = {"dramatiq_queue_prefetch": "64"}


class Project:
    name = PROJECT
    namespace = _setup.NAMESPACE
    args = [*WORKER_ARGS, "django_dramatiq.setup", "bench.jobs_dramatiq", "--queues", QUEUE]
    env: dict[str, str] = {}
    different = False  # each job fails with a message of its own (bench_fails_differently)

    def send(self, count: int) -> None:
        from bench.jobs_dramatiq import bench_fails, bench_fails_differently

        broker = bench_fails.broker
        for start in range(0, count, 1000):
            broker.enqueue_many(  # type: ignore[attr-defined]
                bench_fails_differently.message(n) if self.different else bench_fails.message()
                for n in range(start, min(start + 1000, count))
            )


class ProjectDifferent(Project):
    name = PROJECT_DIFFERENT
    different = True


class BrokerOnly(Project):
    """The package's broker under Dramatiq's default middleware (bench/settings_dramatiq_middleware.py)."""

    name = BROKER_ONLY
    env = {"DJANGO_SETTINGS_MODULE": "bench.settings_dramatiq_middleware"}


class Stock:
    name = STOCK
    namespace = "dramatiq"
    args = [*WORKER_ARGS, "bench.jobs_dramatiq_stock", "--queues", QUEUE]
    env: dict[str, str] = {}
    different = False

    def send(self, count: int) -> None:
        from dramatiq import Message
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=f"{os.environ['BENCH_SYSTEM_URL']}/0", middleware=[])
        broker.declare_queue(QUEUE)
        for n in range(count):
            actor, args = ("bench_fails_differently", (n,)) if self.different else ("bench_fails", ())
            broker.enqueue(Message(queue_name=QUEUE, actor_name=actor, args=args, kwargs={}, options={}))
        broker.close()


class StockDifferent(Stock):
    name = STOCK_DIFFERENT
    different = True


def drain(system: Project | Stock, count: int) -> dict[str, float]:
    """Enqueue `count` failing jobs, start the workers, and time them to the dead letters."""
    _setup.reset()
    system.send(count)
    conn, _ = _setup.clients()
    dead_key = f"{system.namespace}:{QUEUE}.XQ"
    worker = _setup.Process([sys.executable, *system.args], "failing", {**os.environ, **PREFETCH, **system.env})
    try:
        _setup.wait_until(lambda: conn.zcard(dead_key) >= 1, worker, f"{system.name} start")
        started, first, cpu = time.perf_counter(), conn.zcard(dead_key), _setup.processes_cpu_s(worker)
        seen, seen_at, longest_pause = first, started, 0.0
        while seen < count:
            if not worker.alive():
                raise RuntimeError(f"{system.name}: the worker exited; see var/bench-failing.log")
            time.sleep(0.005)
            now, dead = time.perf_counter(), conn.zcard(dead_key)
            if dead > seen:
                longest_pause, seen, seen_at = max(longest_pause, now - seen_at), dead, now
            elif now - started > 600:
                raise RuntimeError(f"{system.name}: gave up with {seen} of {count} dead")
        seconds = seen_at - started
        cpu = _setup.processes_cpu_s(worker) - cpu
        trips = _setup.round_trips("worker")
    finally:
        worker.stop()
    return {
        "messages_s": (count - first) / seconds,
        "round_trips_per_message": trips / count,
        "worker_cpu_ms_per_message": cpu * 1000 / (count - first),
        "longest_pause_s": longest_pause,
    }


# --- the SMTP rate limiter -------------------------------------------------------------------------


def window_limiter_acquire(limiter: Any, timeout_s: float, poll_s: float = 0.05) -> bool:
    """The limiter jobs/limits.py had before the token bucket: Dramatiq's WindowRateLimiter, polled."""
    deadline = time.monotonic() + timeout_s
    while True:
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


TOKEN_BUCKET, WINDOW = "token bucket", "window limiter, polled (before)"


def acquirer(kind: str, name: str) -> Callable[[], bool]:
    """Take one SMTP slot of limiter `name` as dramaturg.sendonce does (up to 10 s), with either limiter."""
    from dramatiq.rate_limits import WindowRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend

    from dramaturg import conf, limits
    from dramaturg.store import keys
    from dramaturg.store.connection import client

    if kind == TOKEN_BUCKET:
        bucket = replace(limits.smtp_limiter(), name=name)
        return lambda: limits.acquire_within(bucket, timeout_s=10)
    window = WindowRateLimiter(
        RedisBackend(client=client()), keys.rate_limit_key(name), limit=conf.settings.EMAIL.RATE_PER_S, window=1
    )
    return lambda: window_limiter_acquire(window, timeout_s=10)


def limiter_cost(kind: str, emails: int, threads: int = 16) -> dict[str, float]:
    """`threads` senders take `emails` SMTP slots between them; the limiter's Redis round trips
    per email (this process's, as the hook counts them), emails/s, the most sent in one second."""
    from dramaturg import conf

    _setup.reset()
    acquire = acquirer(kind, "smtp")
    # Each sender warms up first (its connection open, the script loaded) on a limiter of its own, as
    # in a worker that has sent before: the count is the steady state's.
    warm_up = acquirer(kind, "warm-up")
    warmed, go = threading.Barrier(threads + 1), threading.Event()
    left = [emails]
    lock = threading.Lock()
    sent: list[float] = []

    def sender() -> None:
        warm_up()
        warmed.wait()
        go.wait()
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            while not acquire():
                pass  # (never, at these counts: the wait stays under 10 s)
            with lock:
                sent.append(time.monotonic())

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]  # (a SIGTERM exits at once)
    for thread in pool:
        thread.start()
    warmed.wait()
    before = _setup.round_trips("producer")
    go.set()
    for thread in pool:
        thread.join()
    trips = _setup.round_trips("producer") - before
    sent.sort()
    most = max(sum(1 for t in sent[i:] if t < start + 1.0) for i, start in enumerate(sent))
    return {
        "rate": conf.settings.EMAIL.RATE_PER_S,
        "round_trips_per_email": trips / emails,
        "emails_s": (emails - 1) / (sent[-1] - sent[0]),
        "most_in_one_second": most,
    }


# --- the run ---------------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if min(values) == max(values):
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--emails", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    servers = [_setup.RedisServer(_setup.free_port(6390), "system")]
    servers.append(_setup.RedisServer(_setup.free_port(6391), "counter"))
    try:
        _setup.setup_environment(servers[0].port, servers[1].port)
        os.environ.pop("EMAIL_RATE_PER_S", None)  # the package's default
        _setup.manage("migrate")
        import django

        django.setup()
        lines = measure(args)
    finally:
        for server in servers:
            server.stop()
    text = "\n".join(lines) + "\n"
    (_setup.BENCH / "results").mkdir(exist_ok=True)
    (_setup.BENCH / "results" / "failing_drain.md").write_text(text)
    print(text)


def measure(args: argparse.Namespace) -> list[str]:
    loads = [os.getloadavg()[0]]
    drains: dict[str, list[dict[str, float]]] = {
        name: [] for name in (PROJECT, BROKER_ONLY, STOCK, PROJECT_DIFFERENT, STOCK_DIFFERENT)
    }
    limiter: dict[str, list[dict[str, float]]] = {WINDOW: [], TOKEN_BUCKET: []}
    for repeat in range(args.repeats):
        systems: list[Project | Stock] = [Project(), BrokerOnly(), Stock(), ProjectDifferent(), StockDifferent()]
        for system in systems[:: 1 if repeat % 2 == 0 else -1]:
            drains[system.name].append(result := drain(system, args.messages))
            print(f"  drain, {system.name}: {result}", flush=True)
        for kind in list(limiter)[:: 1 if repeat % 2 == 0 else -1]:
            limiter[kind].append(result := limiter_cost(kind, args.emails))
            print(f"  limiter, {kind}: {result}", flush=True)
        loads.append(os.getloadavg()[0])

    def paired(name: str, peer: str = STOCK) -> str:
        """messages/s of `name` over `peer`'s in the same repeat: median (min-max) of the pairs."""
        return spread([a["messages_s"] / b["messages_s"] for a, b in zip(drains[name], drains[peer], strict=True)], 2)

    rate = int(limiter[TOKEN_BUCKET][0]["rate"])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores "
        f"(load average {min(loads):.1f}–{max(loads):.1f}); median (min–max) of {args.repeats} interleaved runs. "
        "Command: `.venv/bin/python packages/django-dramaturg/bench/failing_drain.py "
        f"--messages {args.messages} --emails {args.emails} "
        f"--repeats {args.repeats}`.",
        "",
        f"{args.messages:,} jobs that always fail (`max_retries=0`) drained to the dead letters, "
        "1 process x 8 threads, `dramatiq_queue_prefetch=64`:",
        "",
        "| system | messages/s | worker's round trips per message | worker CPU per message (ms) | longest pause (s) |",
        "|---|---|---|---|---|",
    ]
    for name, results in drains.items():
        lines.append(
            f"| {name} | {spread([r['messages_s'] for r in results])} | "
            f"{spread([r['round_trips_per_message'] for r in results], 2)} | "
            f"{spread([r['worker_cpu_ms_per_message'] for r in results], 2)} | "
            f"{spread([r['longest_pause_s'] for r in results], 2)} |"
        )
    lines += [
        "",
        f"messages/s over stock Dramatiq's, pair by pair: this package {paired(PROJECT)}×, "
        f"its broker alone {paired(BROKER_ONLY)}×; no two failures alike, this package over stock Dramatiq "
        f"{paired(PROJECT_DIFFERENT, STOCK_DIFFERENT)}×",
        "",
        f"SMTP rate limiter at the default `EMAIL_RATE_PER_S={rate}`, {args.emails} slots taken by 16 threads:",
        "",
        "| limiter | Redis round trips per email | emails/s | most in any one second |",
        "|---|---|---|---|",
    ]
    for kind, results in limiter.items():
        lines.append(
            f"| {kind} | {spread([r['round_trips_per_email'] for r in results], 2)} | "
            f"{spread([r['emails_s'] for r in results], 1)} | "
            f"{spread([r['most_in_one_second'] for r in results])} |"
        )
    return lines


if __name__ == "__main__":
    main()
