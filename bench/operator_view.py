"""The operator's pages at scale, and what metrics collection costs the workers.

    .venv/bin/python bench/operator_view.py [--letters 1000000] [--queues 100] [--workers 50] [--repeat 15]
    .venv/bin/python bench/operator_view.py --drain [--drain-repeats 3]

Pages: fills a Redis of its own (BENCH_REDIS_URL, default a redis-server on 127.0.0.1:6393 that
`ensure_redis` starts; namespace "bench-ops") with `--queues` queues, `--workers` live worker
registrations (5 queues and 2 running jobs each), `--letters` dead letters spread over the queues,
ready messages, an hour and a day of per-actor metrics for 20 actors, recent completions and
pending outbox rows, then times whole requests through Django's test client: view, Redis reads,
the outbox query and rendering.

--drain: 20,000 no-op jobs drained by 2 worker processes (as bench/run.py, against its Redis servers
on 6390/6391) with the project's middleware as it is now; without the record of finished messages
(JOBS_RECENT_LIMIT=0); with JobStats as it was before per-actor metrics (bench/jobstats_before.py);
and with no JobStats at all. Interleaved, median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench-ops"
ACTORS = [f"actor_{i:02d}" for i in range(20)]


def seed(letters: int, queue_count: int, worker_count: int) -> None:
    from dashboard import add_dead_letter, letter

    from jobs.store import actor_metrics, keys, recent, stats
    from jobs.store.actor_metrics import ActorCounts
    from jobs.store.connection import client
    from jobs.timeutil import now_ms as clock

    conn = client()
    queues = [f"queue_{i:03d}" for i in range(queue_count)]
    conn.sadd(keys.queues_key(), *queues)
    now = clock()
    rng = random.Random(11)
    started = time.perf_counter()
    pipe = conn.pipeline(transaction=False)
    for i in range(letters):
        queue = queues[i % queue_count]
        data = {
            **letter(
                i, rng.choice(ACTORS), rng.choice(["SMTPDataError", "TimeoutError", "ValueError"]), now, letters, [i]
            ),
            "queue_name": queue,
        }
        add_dead_letter(queue, str(uuid.uuid4()), data, now - letters + i, pipe)
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    print(
        f"{letters:,} dead letters over {queue_count} queues filed in {time.perf_counter() - started:.1f} s", flush=True
    )
    for queue in queues:  # 20 ready messages per queue, the oldest ten minutes old
        for n in range(20):
            redis_id = str(uuid.uuid4())
            body = json.dumps(
                {
                    "queue_name": queue,
                    "actor_name": ACTORS[n],
                    "args": [n],
                    "kwargs": {},
                    "options": {},
                    "message_id": str(uuid.uuid4()),
                    "message_timestamp": now - 600_000 + n,
                }
            )
            pipe.hset(keys.messages_key(queue), redis_id, body)
            pipe.rpush(keys.queue_key(queue), redis_id)
    pipe.execute()
    for w in range(worker_count):
        worker_id = f"bench-worker-{w}"
        running = {
            f"m-{w}-{j}": {
                "message_id": f"m-{w}-{j}",
                "actor": ACTORS[j],
                "queue": queues[w % queue_count],
                "started_ms": now - 1000,
            }
            for j in range(2)
        }
        stats.publish_worker_stats(
            worker_id,
            {
                "host": "bench",
                "pid": 1000 + w,
                "version": "bench-1",
                "queues": [queues[(w + k) % queue_count] for k in range(5)],
                "started_ms": now - 3_600_000,
            },
            running,
            {},
            {},
        )
        conn.zadd(keys.heartbeats_key(), {worker_id: now})
    by_minute: dict[int, dict[str, ActorCounts]] = {}
    for minute in range(now // 60_000 - 119, now // 60_000 + 1):
        by_minute[minute] = {}
        for a, actor in enumerate(ACTORS):
            counts = ActorCounts(retried=rng.randrange(3), dead=rng.randrange(2))
            for _ in range(50):
                counts.observe(rng.lognormvariate(3 + a / 5, 1), failed=rng.random() < 0.05)
            by_minute[minute][actor] = counts
    pipe = conn.pipeline(transaction=False)
    actor_metrics.add_to_pipeline(pipe, by_minute)
    actor_metrics.record_version("bench-0", now - 3_000_000, pipe)
    actor_metrics.record_version("bench-1", now - 1_200_000, pipe)
    finished = [
        (str(uuid.uuid4()), ACTORS[0], queues[0], recent.DONE, 0, now - i - 3, now - i, 3.0) for i in range(10_000)
    ]
    recent.add_to_pipeline(
        pipe, finished, worker=("bench-worker-0", "bench", 1000), limit=10_000, max_age_ms=86_400_000
    )
    pipe.execute()

    from accounts.models import EmailDelivery, User
    from jobs.models import OutboxMessage

    User.objects.filter(email__startswith="bench-owed").delete()
    OutboxMessage.objects.all().delete()
    users = User.objects.bulk_create([User(email=f"bench-owed{n}@example.com") for n in range(200)])
    EmailDelivery.objects.bulk_create([EmailDelivery(user=u, kind="welcome") for u in users])
    OutboxMessage.objects.bulk_create(
        [OutboxMessage(actor_name=ACTORS[n % 20], queue_name=queues[n % queue_count], args=[n]) for n in range(500)]
    )


def pages(args) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6393/0")
    from _setup import clear_namespace, setup_django, timed

    setup_django(NAMESPACE)
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from jobs.store import keys
    from jobs.store.connection import client as redis_client

    settings.JOBS_METRICS_TOKEN = "bench-token"
    conn = redis_client()
    if conn.zcard(keys.dead_key("queue_000")) * args.queues != args.letters or args.fresh:
        clear_namespace(NAMESPACE)
        seed(args.letters, args.queues, args.workers)
    print(f"Redis used_memory: {conn.info('memory')['used_memory_human']}", flush=True)
    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    scraper = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Bearer bench-token")
    recent_id = next(iter(conn.hkeys(keys.recent_slot_key(0)))).decode()
    targets = {
        "overview /jobs/": (client, "/jobs/"),
        "overview fragment (3 s refresh)": (client, "/jobs/?fragment=1"),
        "overview.json (token)": (scraper, "/jobs/overview.json"),
        "/jobs/metrics (token)": (scraper, "/jobs/metrics"),
        "/jobs/health (token)": (scraper, "/jobs/health"),
        "actors, last hour": (client, "/jobs/actors/"),
        "actors, last day": (client, "/jobs/actors/?window=day"),
        "actor page, last hour": (client, f"/jobs/actors/{ACTORS[5]}/"),
        "retries": (client, "/jobs/retries/"),
        "message by id (finished)": (client, f"/jobs/messages/?id={recent_id}"),
        "message by id (unknown: full scan)": (client, "/jobs/messages/?id=no-such-message"),
    }
    print(
        f"\n{args.queues} queues, {args.workers} workers, {args.letters:,} dead letters; "
        f"median (min-max) of {args.repeat} requests, ms"
    )
    print(f"{'page':34} {'median':>8} {'min':>8} {'max':>8} {'bytes':>9}")
    for name, (who, url) in targets.items():
        response = who.get(url)
        assert response.status_code in (200, 503), (url, response.status_code)
        median, low, high = timed(lambda who=who, url=url: who.get(url), args.repeat)
        print(f"{name:34} {median:8.1f} {low:8.1f} {high:8.1f} {len(response.content):9,}", flush=True)
    if not args.keep:
        clear_namespace(NAMESPACE)


def drain_overhead(repeats: int) -> None:
    sys.path.insert(0, str(ROOT))
    import bench.run as run

    # bench/run.py's own Redis servers and environment (the system's Redis and the drain counter).
    servers = [run.RedisServer(run.free_port(6390), "system"), run.RedisServer(run.free_port(6391), "counter")]
    try:
        run.setup_environment(servers[0].port, servers[1].port)
        run.manage("migrate")
        import django

        django.setup()
        _drain_variants(run, repeats)
    finally:
        for server in servers:
            server.stop()


def _drain_variants(run: Any, repeats: int) -> None:
    system = run.Dramatiq()
    variants = {
        "JobStats now (metrics on)": "project.settings",
        "JobStats now, no finished record": "bench.settings_no_recent",
        "JobStats before (main 823f97c)": "bench.settings_jobstats_before",
        "no JobStats at all": "bench.settings_no_jobstats",
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    commands: dict[str, list[float]] = {name: [] for name in variants}
    original = os.environ["DJANGO_SETTINGS_MODULE"]
    for _ in range(repeats):
        for name, module in variants.items():
            os.environ["DJANGO_SETTINGS_MODULE"] = module  # the worker processes' settings
            try:
                result = run.drain(system, "noop", 20_000)
                rate, per_job = result["jobs_s"], result["round_trips_per_job"]
            finally:
                os.environ["DJANGO_SETTINGS_MODULE"] = original
            rates[name].append(rate)
            commands[name].append(per_job)
            print(f"  {name}: {rate:,.0f} jobs/s, {per_job:.2f} round trips/job", flush=True)
    print(
        f"\ndrain 20,000 no-op jobs, 2 processes x {os.environ.get('BENCH_DRAMATIQ_THREADS', '8')} threads; "
        f"median (min-max) of {repeats}"
    )
    for name in variants:
        low, high = min(rates[name]), max(rates[name])
        print(
            f"{name:32} {statistics.median(rates[name]):8,.0f} jobs/s ({low:,.0f}-{high:,.0f})"
            f"  {statistics.median(commands[name]):.2f} round trips/job"
        )
    now, no_record, before, none = (statistics.median(rates[n]) for n in variants)
    print(
        f"per-actor metrics and the finished record cost {100 * (before - now) / before:.1f} % against JobStats "
        f"before; {100 * (none - now) / none:.1f} % against no JobStats at all; "
        f"without the record {100 * (before - no_record) / before:.1f} % against before"
    )


def hook_cost(jobs: int) -> None:
    """CPU time of JobStats' hooks per job, in this process (no worker, no Redis on the job path):
    before, after and ack of `jobs` no-op messages over 4 actors, plus the publish of what they left
    (to a Redis of its own, as a worker's background thread does once a second)."""
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6393/0")
    from _setup import setup_django

    setup_django(NAMESPACE)
    import dramatiq
    from dramatiq.broker import MessageProxy

    from bench.jobstats_before import JobStats as Before
    from jobs.middleware.stats import JobStats as Now

    broker = dramatiq.get_broker()

    class FakeWorker:
        consumer_whitelist = ["bench"]

    messages = [
        MessageProxy(
            dramatiq.Message(
                queue_name="bench",
                actor_name=f"actor_{i % 4}",
                args=(),
                kwargs={},
                options={"redis_message_id": str(uuid.uuid4())},
            )
        )
        for i in range(jobs)
    ]
    print(f"\nJobStats hooks, CPU per job over {jobs:,} jobs (process_time, publish included), best of 5")
    for name, cls in (("before (main 823f97c)", Before), ("now", Now)):
        best = float("inf")
        for _ in range(5):
            stats = cls()
            stats.after_worker_boot(broker, FakeWorker())
            stats._stop.set()  # no background thread: publish below, once
            started = time.process_time()
            for message in messages:
                stats.before_process_message(broker, message)
                stats.after_process_message(broker, message)
                if hasattr(stats, "after_ack"):
                    stats.after_ack(broker, message)
            stats.flush()
            best = min(best, (time.process_time() - started) / jobs * 1e6)
        print(f"  {name:24} {best:6.1f} µs per job")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fresh", action="store_true", help="seed again even if the data is there")
    parser.add_argument("--keep", action="store_true", help="keep the data for another run")
    parser.add_argument("--drain", action="store_true", help="measure the workers' cost of metrics instead")
    parser.add_argument("--drain-repeats", type=int, default=3)
    parser.add_argument("--hooks", type=int, default=0, help="measure JobStats' CPU per job over this many jobs")
    args = parser.parse_args()
    if args.hooks:
        hook_cost(args.hooks)
    elif args.drain:
        drain_overhead(args.drain_repeats)
    else:
        pages(args)


if __name__ == "__main__":
    main()
