"""The operator's pages at scale, and what metrics collection costs the workers.

    .venv/bin/python packages/django-dramaturg/bench/operator_view.py [--letters 1000000] [--queues 100] \
        [--workers 50] [--repeat 15]
    .venv/bin/python packages/django-dramaturg/bench/operator_view.py --drain [--drain-repeats 6]

On the host project of the package's tests (bench/settings.py). Pages: fills a Redis of its own
(BENCH_REDIS_URL, default a redis-server on 127.0.0.1:6393, started if none answers; namespace
"bench-ops") with `--queues` queues, `--workers` live worker registrations (5 queues and 2 running
jobs each), `--letters` dead letters spread over the queues, ready messages, an hour and a day of
per-actor metrics for 20 actors, recent completions, pending outbox rows and owed emails (the host's
Notice rows), then times whole requests through Django's test client: view, Redis reads,
the outbox query and rendering.

--drain: what metrics collection (the JobStats middleware) costs the workers. 20,000 no-op jobs
drained by 2 worker processes (as bench/run.py, against its Redis servers on 6390/6391) with the
package's middleware; without the record of finished messages (RECENT_LIMIT=0); with no
JobStats at all; and with JobStats timing its own CPU (bench/jobstats_timed.py). The queue is
paused until the workers have booted, so that their CPU per job (user + system of their processes,
from the resume to the last job) leaves their boot out. Interleaved, the order reversed every
other repeat; the median (min-max) of the repeats of jobs/s, worker CPU, Redis CPU and Redis
commands per job. On a shared machine jobs/s and even CPU per job move with other load by more
than the cost measured; JobStats' own CPU, timed inside the workers, moves far less.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench import _setup

NAMESPACE = "bench-ops"
ACTORS = [f"actor_{i:02d}" for i in range(20)]


def seed(letters: int, queue_count: int, worker_count: int) -> None:
    from bench.dashboard import add_dead_letter, letter
    from dramaturg.store import actor_metrics, keys, recent, stats
    from dramaturg.store.actor_metrics import ActorCounts
    from dramaturg.store.connection import client
    from dramaturg.timeutil import now_ms as clock

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

    from dramaturg.models import OutboxMessage
    from host.demo.models import Notice

    Notice.objects.filter(address__startswith="bench-owed").delete()
    OutboxMessage.objects.all().delete()
    Notice.objects.bulk_create([Notice(address=f"bench-owed{n}@example.com") for n in range(200)])  # owed emails
    OutboxMessage.objects.bulk_create(
        [OutboxMessage(actor_name=ACTORS[n % 20], queue_name=queues[n % queue_count], args=[n]) for n in range(500)]
    )


def pages(args) -> None:
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6393/0")
    _setup.setup_django(NAMESPACE)
    from django.conf import settings
    from django.test import Client

    from dramaturg import conf
    from dramaturg.store import keys
    from dramaturg.store.connection import client as redis_client

    console = {**settings.DRAMATURG.get("CONSOLE", {}), "METRICS_TOKEN": "bench-token"}
    settings.DRAMATURG = {**settings.DRAMATURG, "CONSOLE": console}
    conf.settings.reload()
    conn = redis_client()
    if conn.zcard(keys.dead_key("queue_000")) * args.queues != args.letters or args.fresh:
        _setup.clear_namespace(NAMESPACE)
        seed(args.letters, args.queues, args.workers)
    print(f"Redis used_memory: {conn.info('memory')['used_memory_human']}", flush=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(_setup.superuser())
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
        median, low, high = _setup.timed(lambda who=who, url=url: who.get(url), args.repeat)
        print(f"{name:34} {median:8.1f} {low:8.1f} {high:8.1f} {len(response.content):9,}", flush=True)
    if not args.keep:
        _setup.clear_namespace(NAMESPACE)


def drain_overhead(repeats: int) -> None:
    import bench.run as run

    # bench/run.py's own Redis servers and environment (the system's Redis and the drain counter).
    servers = [_setup.RedisServer(_setup.free_port(6390), "system")]
    servers.append(_setup.RedisServer(_setup.free_port(6391), "counter"))
    try:
        _setup.setup_environment(servers[0].port, servers[1].port)
        _setup.manage("migrate")
        import django

        django.setup()
        _drain_variants(run, repeats)
    finally:
        for server in servers:
            server.stop()


ON, NO_RECORD, NONE, TIMED = (
    "JobStats (metrics on)",
    "JobStats, no finished record",
    "no JobStats at all",
    "JobStats timing itself",
)
VARIANTS = {
    ON: "bench.settings",
    NO_RECORD: "bench.settings_no_recent",
    NONE: "bench.settings_no_jobstats",
    TIMED: "bench.settings_jobstats_timed",
}
FIGURES = ("jobs_s", "worker_cpu_us_per_job", "redis_cpu_us_per_job", "redis_commands_per_job")


def _spread(values: list[float], digits: int = 0) -> str:
    """'median (min-max)'."""
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def _drain_variants(run: Any, repeats: int) -> None:
    from bench.jobs_dramatiq import QUEUE
    from dramaturg.store import control

    system = run.Dramatiq()
    runs: dict[str, dict[str, list[float]]] = {name: {f: [] for f in FIGURES} for name in VARIANTS}
    hooks: list[float] = []
    publish: list[float] = []
    loads = [os.getloadavg()[0]]
    original = os.environ["DJANGO_SETTINGS_MODULE"]
    for repeat in range(repeats):
        for name in list(VARIANTS)[:: 1 if repeat % 2 == 0 else -1]:  # A B C D, D C B A, ...: no variant always first
            module = VARIANTS[name]
            os.environ["DJANGO_SETTINGS_MODULE"] = module  # the worker processes' settings
            try:
                result = run.drain(
                    system, "noop", 20_000, gate=(lambda: control.pause(QUEUE), lambda: control.resume(QUEUE))
                )
            finally:
                os.environ["DJANGO_SETTINGS_MODULE"] = original
            loads.append(os.getloadavg()[0])
            for f in FIGURES:
                runs[name][f].append(result[f])
            line = (
                f"  {name}: {result['jobs_s']:,.0f} jobs/s, {result['worker_cpu_us_per_job']:.0f} µs worker CPU/job, "
                f"{result['redis_cpu_us_per_job']:.0f} µs Redis CPU/job, "
                f"{result['redis_commands_per_job']:.2f} Redis commands/job (load average {loads[-1]:.1f})"
            )
            if name == TIMED:
                _, counter = _setup.clients()
                hooks.append(int(counter.get("bench:jobstats:hooks_ns") or 0) / 20_000 / 1000)
                publish.append(int(counter.get("bench:jobstats:publish_ns") or 0) / 20_000 / 1000)
                line += f"; JobStats' own CPU: hooks {hooks[-1]:.1f} µs/job, publish {publish[-1]:.1f} µs/job"
            print(line, flush=True)
    print(
        f"\ndrain 20,000 no-op jobs, 2 processes x 8 threads; median (min-max) of {repeats}; "
        f"load average (1 min) {min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"{'':30} {'dramaturg/s':>21} {'worker CPU µs/job':>18} {'Redis CPU µs/job':>17} {'commands/job':>13}")
    for name in VARIANTS:
        figures = runs[name]
        commands = statistics.median(figures["redis_commands_per_job"])
        print(
            f"{name:30} {_spread(figures['jobs_s']):>21} {_spread(figures['worker_cpu_us_per_job']):>18}"
            f" {_spread(figures['redis_cpu_us_per_job']):>17} {commands:13.2f}"
        )
    rate = {n: statistics.median(runs[n]["jobs_s"]) for n in VARIANTS}
    cpu = {n: statistics.median(runs[n]["worker_cpu_us_per_job"]) for n in VARIANTS}
    redis_cpu = {n: statistics.median(runs[n]["redis_cpu_us_per_job"]) for n in VARIANTS}
    print(
        f"against no JobStats at all (medians): worker CPU per job {100 * (cpu[ON] - cpu[NONE]) / cpu[NONE]:+.1f} % "
        f"(without the record {100 * (cpu[NO_RECORD] - cpu[NONE]) / cpu[NONE]:+.1f} %), "
        f"dramaturg/s {100 * (rate[ON] - rate[NONE]) / rate[NONE]:+.1f} % "
        f"(without the record {100 * (rate[NO_RECORD] - rate[NONE]) / rate[NONE]:+.1f} %)"
    )
    # Ratios pair by pair (the same repeat, minutes apart) cancel the machine's drift between repeats.
    paired_rate = [a / b for a, b in zip(runs[ON]["jobs_s"], runs[NONE]["jobs_s"], strict=True)]
    paired_cpu = [
        a / b for a, b in zip(runs[ON]["worker_cpu_us_per_job"], runs[NONE]["worker_cpu_us_per_job"], strict=True)
    ]
    print(
        f"pair by pair, with JobStats / without: jobs/s {_spread(paired_rate, 3)}, "
        f"worker CPU per job {_spread(paired_cpu, 3)} (median (min-max) of {repeats} pairs)"
    )
    own = statistics.median(hooks) + statistics.median(publish)
    redis_added = max(redis_cpu[ON] - redis_cpu[NONE], 0.0)
    base = cpu[NONE] + redis_cpu[NONE]
    print(
        f"JobStats' own CPU in the workers: hooks {_spread(hooks, 1)} + publish {_spread(publish, 1)} µs/job; "
        f"with the Redis CPU it adds ({redis_added:.1f} µs/job, medians), {own + redis_added:.1f} µs/job: "
        f"{100 * (own + redis_added) / base:.1f} % of a job without it "
        f"({cpu[NONE]:.0f} µs worker + {redis_cpu[NONE]:.0f} µs Redis CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fresh", action="store_true", help="seed again even if the data is there")
    parser.add_argument("--keep", action="store_true", help="keep the data for another run")
    parser.add_argument("--drain", action="store_true", help="measure the workers' cost of metrics instead")
    parser.add_argument("--drain-repeats", type=int, default=6)
    args = parser.parse_args()
    if args.drain:
        drain_overhead(args.drain_repeats)
    else:
        pages(args)


if __name__ == "__main__":
    main()
