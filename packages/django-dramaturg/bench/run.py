"""The package's job benchmarks in one run, each system at its best, against Redis servers of its own:
no-op (and 10 ms) jobs enqueued, drained and started by this package's Dramatiq, stock Dramatiq, Celery and RQ.

    python3 packages/django-dramaturg/bench/run.py [--repeats 3] [--quick] [--only drain,latency,...] [--large]

The first run creates a virtualenv of its own, var/bench-venv, with requirements.txt and
bench/requirements.txt (Celery, RQ: never installed into the project's .venv), and re-runs
itself there; later runs reuse it (re-installed when a requirements file changes).

This package's workers run on the host project of its tests (bench/settings.py over tests/host/settings.py).
It starts two redis-servers (ports 6390 and 6391, or free ones if those are taken): one for the
systems under test, one for the jobs' own counters, so what is measured on the first is only what
each system does. Runs are interleaved (A B C, A B C, ...) since the machine is shared; each
figure is the median of the runs with min-max. Round trips are counted by the client (a redis-py
hook, bench/roundtrips/, in every process); Redis CPU is the `INFO cpu` delta over the run.

--quick: one interleaved run with smaller counts, written to bench/results/quick.{json,md}
(figures, each system's exact worker command, and the headline ratios).
Otherwise: bench/results/results.{json,md}. --large adds bench/dashboard.py.
The reference project's web tier, signups and welcome emails: /bench/run.py.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench._setup import (
    BENCH,
    Group,
    Process,
    RedisServer,
    booted,
    clients,
    ensure_bench_venv,
    fmt,
    free_port,
    manage,
    percentile,
    processes_cpu_s,
    reset,
    round_trips,
    runner_arguments,
    setup_environment,
    spread,
    wait_until,
    write_results,
)

RESULTS = BENCH / "results"
DRAMATIQ, DRAMATIQ_STOCK, CELERY, CELERY_EARLY, RQ, RQ_FORK = (
    "Dramatiq (this project)",
    "Dramatiq, stock",
    "Celery",
    "Celery, acks early",
    "RQ",
    "RQ, forking worker",
)
AT_BEST = [DRAMATIQ, CELERY, RQ]
LATENCY = [DRAMATIQ, DRAMATIQ_STOCK, CELERY, RQ]


# --- the systems, each at its best for many short jobs ----------------------------------------
# Each system lists the configurations its experts would pick for a row (`variants(job)`: "noop" for
# the no-op drain and the idle latency, "sleep10" for the 10 ms drain); the bench runs every one,
# interleaved, and each row shows the system's fastest, named.

PY = "python"  # shown in the configs; the bench runs its own interpreter


def many(job: str) -> int:
    """Workers or children where one per thread is the expert's choice: as many as Dramatiq's threads
    (2 x 8) for jobs that wait (10 ms), one per core for no-op jobs, where more only contend."""
    return 16 if job == "sleep10" else 2


class Dramatiq:
    name = DRAMATIQ
    variant = "2 processes x 8 threads"

    def variants(self, job: str) -> list[str]:
        return [self.variant]

    # The reference project's Procfile worker (prefetch tuned), with the benchmark's actors, on the host's settings.
    env = {"dramatiq_queue_prefetch": "64"}
    args = [
        "-m",
        "dramatiq",
        "--path",
        ".",
        "--processes",
        "2",
        "--threads",
        "8",
        "django_dramatiq.setup",
        "bench.jobs_dramatiq",
        "--queues",
        "bench",
    ]

    def __init__(self) -> None:
        import dramatiq

        from bench import jobs_dramatiq

        self.broker = dramatiq.get_broker()
        self.jobs = {
            "noop": jobs_dramatiq.bench_noop,
            "sleep10": jobs_dramatiq.bench_sleep10,
            "note_start": jobs_dramatiq.bench_note_start,
        }

    note = "  # the package's RedisBroker and middleware (the host's settings.DRAMATIQ_BROKER)"

    def config(self) -> str:
        return " ".join([*(f"{k}={v}" for k, v in self.env.items()), PY, *self.args]) + self.note

    def send(self, job: str, *args: Any) -> None:
        self.jobs[job].send(*args)

    def send_bulk(self, job: str, count: int) -> None:
        actor = self.jobs[job]
        for start in range(0, count, 1000):
            self.broker.enqueue_many(actor.message() for _ in range(min(1000, count - start)))

    def worker(self) -> Process | Group:
        return Process([sys.executable, *self.args], "dramatiq", {**os.environ, **self.env})


class DramatiqStock(Dramatiq):
    """Stock Dramatiq: its own RedisBroker and default middleware, its default worker (processes =
    cores, 8 threads each, prefetch 2 x threads), no Django (bench/jobs_dramatiq_stock.py)."""

    name = DRAMATIQ_STOCK
    env: dict[str, str] = {}
    args = ["-m", "dramatiq", "--processes", "2", "--threads", "8", "bench.jobs_dramatiq_stock", "--queues", "bench"]
    note = "  # dramatiq.brokers.redis.RedisBroker, Dramatiq's default middleware"

    def __init__(self) -> None:
        from dramatiq.brokers.redis import RedisBroker

        self.broker = RedisBroker(url=f"{os.environ['BENCH_SYSTEM_URL']}/0", middleware=[])
        self.broker.declare_queue("bench")

    def send(self, job: str, *args: Any) -> None:
        from dramatiq import Message

        self.broker.enqueue(Message(queue_name="bench", actor_name=f"bench_{job}", args=args, kwargs={}, options={}))

    def send_bulk(self, job: str, count: int) -> None:
        for _ in range(count):
            self.send(job)


class Celery:
    name = CELERY
    acks_late = "1"
    variant = "threads, 2 processes x 8"

    def __init__(self) -> None:
        from bench import jobs_celery

        self.jobs = {"noop": jobs_celery.noop, "sleep10": jobs_celery.sleep10, "note_start": jobs_celery.note_start}

    def variants(self, job: str) -> list[str]:
        """Celery's docs: prefork (the default) for CPU-bound work, solo for one task at a time per
        process with no pool overhead, threads for I/O-bound work."""
        n = many(job)
        return [f"solo, {n} processes", f"prefork, {n} children", "threads, 2 processes x 8"]

    def pool(self) -> tuple[list[str], int]:
        """The chosen variant's pool flags and how many worker processes run them."""
        kind, _, count = self.variant.partition(", ")
        n = int(count.split()[0])
        if kind == "solo":
            return ["--pool", "solo"], n
        if kind == "prefork":
            return ["--pool", "prefork", "--concurrency", str(n)], 1
        return ["--pool", "threads", "--concurrency", "8"], 2

    def args(self, n: int) -> list[str]:
        return [
            "-m",
            "celery",
            "-A",
            "bench.jobs_celery",
            "worker",
            *self.pool()[0],
            "--prefetch-multiplier",
            "64",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            "bench",
            "-n",
            f"bench{n}@%h",
            "--loglevel",
            "WARNING",
        ]

    def config(self) -> str:
        late = self.acks_late == "1"
        return (
            f"{self.pool()[1]} x: BENCH_CELERY_ACKS_LATE={self.acks_late} {PY} "
            + " ".join(self.args(1))
            + f"  # bench/jobs_celery.py: task_acks_late={late}, task_reject_on_worker_lost={late}, "
            "task_ignore_result=True"
        )

    def send(self, job: str, *args: Any) -> None:
        self.jobs[job].delay(*args)

    def send_bulk(self, job: str, count: int) -> None:
        from celery import group

        task = self.jobs[job]
        for start in range(0, count, 1000):
            group(task.s() for _ in range(min(1000, count - start))).apply_async()

    def worker(self) -> Process | Group:
        env = {**os.environ, "BENCH_CELERY_ACKS_LATE": self.acks_late}
        count = self.pool()[1]
        return Group([Process([sys.executable, *self.args(n)], f"celery{n}", env) for n in range(1, count + 1)])


class CeleryAcksEarly(Celery):
    name = CELERY_EARLY
    acks_late = "0"


class RQSystem:
    name = RQ
    worker_class: str | None = "rq.worker.SimpleWorker"
    variant = "2 workers"

    def variants(self, job: str) -> list[str]:
        """One worker per core, or as many workers as Dramatiq and Celery have threads (16)."""
        return ["2 workers", "16 workers"]

    def __init__(self) -> None:
        import redis
        from rq import Queue

        from bench import jobs_common

        self.queue = Queue("bench", connection=redis.Redis.from_url(os.environ["BENCH_RQ_URL"]))
        self.jobs = {"noop": jobs_common.noop, "sleep10": jobs_common.sleep10, "note_start": jobs_common.note_start}

    def args(self) -> list[str]:
        chosen = ["-w", self.worker_class] if self.worker_class else []
        workers = self.variant.split()[0]
        return ["-m", "rq.cli", "worker-pool", "-n", workers, *chosen, "-u", os.environ["BENCH_RQ_URL"], "-q", "bench"]

    def config(self) -> str:
        shown = " ".join(self.args()).replace(os.environ["BENCH_SYSTEM_URL"], "redis://127.0.0.1:6390")
        return f"{PY} {shown}  # jobs enqueued with result_ttl=0 (no result kept)"

    def send(self, job: str, *args: Any) -> None:
        self.queue.enqueue(self.jobs[job], *args, result_ttl=0)

    def send_bulk(self, job: str, count: int) -> None:
        from rq import Queue

        for start in range(0, count, 1000):
            self.queue.enqueue_many(
                [Queue.prepare_data(self.jobs[job], result_ttl=0) for _ in range(min(1000, count - start))]
            )

    def worker(self) -> Process | Group:
        return Process([sys.executable, *self.args()], "rq")


class RQForking(RQSystem):
    name = RQ_FORK
    worker_class = None


# --- measurements --------------------------------------------------------------------------------


def redis_cpu_s() -> float:
    system, _ = clients()
    info = system.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def enqueue(system, count: int, bulk: bool) -> tuple[float, float]:
    """Messages/s enqueued, and the producer's round trips per message."""
    reset()
    before = round_trips("producer")
    started = time.perf_counter()
    if bulk:
        system.send_bulk("noop", count)
    else:
        for _ in range(count):
            system.send("noop")
    seconds = time.perf_counter() - started
    return count / seconds, (round_trips("producer") - before) / count


def redis_commands() -> int:
    system, _ = clients()
    return int(system.info("stats")["total_commands_processed"])


def drain(system, job: str, count: int, gate: tuple[Callable[[], Any], Callable[[], Any]] | None = None) -> dict:
    """Jobs/s draining a pre-filled queue with the system's two worker processes; the workers' round
    trips and Redis commands per job (from their start to the last job) and Redis CPU microseconds
    per job. With a `gate` (close, open: pause and resume the queue), the workers boot with it
    closed, and their own CPU per job is measured too, from the opening to the last job: their boot
    left out, which a window from the first job would not (one process may still be booting)."""
    reset()
    if gate:
        gate[0]()
    system.send_bulk(job, count)
    _, counter = clients()
    cpu, commands = redis_cpu_s(), redis_commands()
    worker = system.worker()
    try:
        if gate:
            booted(worker)
            worker_cpu = processes_cpu_s(worker)
            gate[1]()
        wait_until(lambda: int(counter.get("bench:done") or 0) >= 1, worker, f"{system.name} start")
        started, first = time.perf_counter(), int(counter.get("bench:done"))
        wait_until(lambda: int(counter.get("bench:done") or 0) >= count, worker, f"{system.name} drain")
        seconds = time.perf_counter() - started
        if gate:
            worker_cpu = processes_cpu_s(worker) - worker_cpu
        cpu, commands = redis_cpu_s() - cpu, redis_commands() - commands - 2  # less the two INFO calls
        trips = round_trips("worker")
    finally:
        worker.stop()
    result = {
        "jobs_s": (count - first) / seconds,
        "round_trips_per_job": trips / count,
        "redis_commands_per_job": commands / count,
        "redis_cpu_us_per_job": cpu * 1e6 / count,
    }
    if gate:
        result["worker_cpu_us_per_job"] = worker_cpu * 1e6 / count
    return result


def start_latency(system, jobs: int, seed: int) -> tuple[float, float, list[float]]:
    """Enqueue-to-start p50 / p99 in ms on idle workers: one job at a time, 0.2-1 s apart."""
    reset()
    _, counter = clients()
    gaps = random.Random(seed)
    worker = system.worker()
    try:
        system.send("noop")
        wait_until(lambda: bool(counter.get("bench:done")), worker, f"{system.name} start", 60)
        time.sleep(1.5)  # idle, as workers between bursts are
        for _ in range(jobs):
            system.send("note_start", time.time())
            time.sleep(gaps.uniform(0.2, 1.0))
        wait_until(lambda: counter.llen("bench:latency") >= jobs, worker, f"{system.name} latency", 60)
        delays = [float(v) * 1000 for v in counter.lrange("bench:latency", 0, -1)]
    finally:
        worker.stop()
    return percentile(delays, 50), percentile(delays, 99), delays


def redis_ceiling(port: int) -> dict:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-q", "-n", "100000", "-t", "set,lpush,lpop"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {}
    for line in out.splitlines():
        if ":" in line and "requests per second" in line:
            name, rest = line.split(":", 1)
            figures[name.strip()] = float(rest.split("requests per second")[0].strip().split()[-1])
    return figures


# --- the run -------------------------------------------------------------------------------------------

FULL = {
    "enqueue": 3000,
    "bulk": 20000,
    "noop": 20000,
    "sleep10": 2000,
    "latency_jobs": 60,
}
QUICK = {
    "enqueue": 1000,
    "bulk": 5000,
    "noop": 8000,
    "sleep10": 1000,
    "latency_jobs": 150,  # one run: the p99 of 150 samples
}
# RQ runs one to two orders of magnitude fewer jobs per second: fewer jobs, the same rate.
SHARE = {"RQ": 0.1, "RQ, forking worker": 0.02}
ALL_PARTS = ["ceiling", "enqueue", "drain", "latency"]
QUICK_PARTS = ["enqueue", "drain", "latency"]


def main() -> None:
    args = runner_arguments(__doc__ or "", ALL_PARTS)
    ensure_bench_venv()
    counts = QUICK if args.quick else FULL
    repeats = 1 if args.quick else args.repeats
    only = args.only.split(",") if args.only else (QUICK_PARTS if args.quick else ALL_PARTS)

    servers = [RedisServer(free_port(6390), "system")]
    servers.append(RedisServer(free_port(6391), "counter"))
    try:
        setup_environment(servers[0].port, servers[1].port)
        results = run(only, counts, repeats, servers[0].port)
    finally:
        for server in servers:
            server.stop()
    command = "python3 packages/django-dramaturg/bench/run.py" + (" --quick" if args.quick else "")
    results.update(command=command, counts=counts, repeats=repeats)
    if args.large:
        dashboard = [sys.executable, str(BENCH / "dashboard.py")]
        results["dashboard_1m"] = subprocess.run(dashboard, text=True, capture_output=True).stdout
    stem = "quick" if args.quick else "results"
    write_results(RESULTS, stem, results, table, merge=bool(args.only), ratios=ratios)


def run(only: list[str], counts: dict, repeats: int, system_port: int) -> dict:
    manage("migrate")
    import django

    django.setup()
    systems = {s.name: s for s in (Dramatiq(), DramatiqStock(), Celery(), CeleryAcksEarly(), RQSystem(), RQForking())}
    best = [systems[n] for n in AT_BEST]
    results: dict = {
        "machine": f"{os.cpu_count()} cores",
        "load_average_at_start": os.getloadavg()[0],
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "configs": {name: configs(s) for name, s in systems.items()},
    }

    if "ceiling" in only:
        results["redis_ceiling_ops_s"] = redis_ceiling(system_port)
        print("redis-benchmark:", results["redis_ceiling_ops_s"], flush=True)
    if "enqueue" in only:
        table: dict = {s.name: {"one_by_one": [], "bulk": [], "rt_one_by_one": [], "rt_bulk": []} for s in best}
        for _ in range(repeats):
            for s in best:
                rate, trips = enqueue(s, counts["enqueue"], bulk=False)
                table[s.name]["one_by_one"].append(rate)
                table[s.name]["rt_one_by_one"].append(trips)
                rate, trips = enqueue(s, counts["bulk"], bulk=True)
                table[s.name]["bulk"].append(rate)
                table[s.name]["rt_bulk"].append(trips)
        results["enqueue"] = {n: {k: spread(v) for k, v in d.items()} for n, d in table.items()}
        print(
            "enqueue msg/s:",
            {n: (round(d["one_by_one"]["median"]), round(d["bulk"]["median"])) for n, d in results["enqueue"].items()},
            flush=True,
        )
    if "drain" in only:
        for job in ("noop", "sleep10"):
            runs: dict = {s: {} for s in systems}
            for _ in range(repeats):
                for s in systems.values():
                    for s.variant in s.variants(job):  # noqa: B020 (each configuration in turn)
                        measured = drain(s, job, int(counts[job] * SHARE.get(s.name, 1)))
                        runs[s.name].setdefault(s.variant, []).append(measured)
            results[f"drain_{job}"] = {n: fastest(v) for n, v in runs.items()}
            print(
                f"drain {job}:",
                {
                    n: (
                        round(v["jobs_s"]["median"]),
                        round(v["round_trips_per_job"]["median"], 2),
                        round(v["redis_cpu_us_per_job"]["median"], 1),
                    )
                    for n, v in results[f"drain_{job}"].items()
                },
                flush=True,
            )
    if "latency" in only:
        lat: dict = {n: {} for n in LATENCY}
        for repeat in range(repeats):
            for s in (systems[n] for n in LATENCY):
                # Each in its fastest no-op configuration when this run measured it, else in every one.
                chosen = results.get("drain_noop", {}).get(s.name, {}).get("config")
                for s.variant in [chosen] if chosen else s.variants("noop"):  # noqa: B020 (each in turn)
                    lat[s.name].setdefault(s.variant, []).extend(start_latency(s, counts["latency_jobs"], repeat)[2])
        results["start_latency_ms"] = {n: lowest_p99(v) for n, v in lat.items()}
        print(
            "idle latency p50/p99 ms (samples):",
            {n: (round(v["p50"], 1), round(v["p99"], 1), v["samples"]) for n, v in results["start_latency_ms"].items()},
            flush=True,
        )
    results["load_average_at_end"] = os.getloadavg()[0]
    results["ratios"] = ratios(results)
    return results


def configs(system: Any) -> dict[str, str]:
    """Every configuration the bench runs `system` in, by label: its exact worker command."""
    out = {}
    for job in ("noop", "sleep10"):
        for system.variant in system.variants(job):  # noqa: B020 (each configuration in turn)
            out[system.variant] = system.config()
    return out


def fastest(runs: dict[str, list[dict]]) -> dict:
    """A system's drain figures in its fastest configuration (highest median jobs/s), named, with
    every configuration's median jobs/s beside them."""
    by_variant = {v: {k: spread([r[k] for r in rs]) for k in rs[0]} for v, rs in runs.items()}
    chosen = max(by_variant, key=lambda v: by_variant[v]["jobs_s"]["median"])
    return {
        **by_variant[chosen],
        "config": chosen,
        "variants": {v: d["jobs_s"]["median"] for v, d in by_variant.items()},
    }


def lowest_p99(samples: dict[str, list[float]]) -> dict:
    """A system's idle latency in its configuration of lowest p99, each percentile over all its runs'
    samples pooled (the p99 of 150+ samples, not the largest of 50)."""
    p99 = {v: percentile(d, 99) for v, d in samples.items()}
    chosen = min(p99, key=lambda v: p99[v])
    pooled = samples[chosen]
    return {
        "p50": percentile(pooled, 50),
        "p99": p99[chosen],
        "samples": len(pooled),
        "config": chosen,
        "variants": p99,
    }


def ratios(results: dict) -> dict:
    out: dict = {}
    for job in ("noop", "sleep10"):
        if f"drain_{job}" in results:
            d = {n: v["jobs_s"]["median"] for n, v in results[f"drain_{job}"].items()}
            for name, key in (
                (DRAMATIQ_STOCK, "dramatiq_stock"),
                (CELERY, "celery"),
                (CELERY_EARLY, "celery_acks_early"),
                (RQ, "rq"),
                (RQ_FORK, "rq_forking"),
            ):
                if name in d:
                    out[f"{job}_vs_{key}"] = d[DRAMATIQ] / d[name]
    if "start_latency_ms" in results:
        p99 = {n: v["p99"] for n, v in results["start_latency_ms"].items()}
        out["idle_p99_celery_over_dramatiq"] = p99[CELERY] / p99[DRAMATIQ]
        out["idle_p99_dramatiq_stock_over_dramatiq"] = p99[DRAMATIQ_STOCK] / p99[DRAMATIQ]
    if "drain_noop" in results and "enqueue" in results:
        # Under load, one job costs its enqueue (one by one) plus its share of the workers' round trips.
        out["dramatiq_round_trips_per_job_under_load"] = (
            results["enqueue"][DRAMATIQ]["rt_one_by_one"]["median"]
            + results["drain_noop"][DRAMATIQ]["round_trips_per_job"]["median"]
        )
    return out


# --- output ----------------------------------------------------------------------------------------------


def table(results: dict) -> list[str]:
    names = [DRAMATIQ, DRAMATIQ_STOCK, CELERY, CELERY_EARLY, RQ, RQ_FORK]
    runs = results["repeats"]
    lines = [
        f"Measured {results['at']} on {results['machine']} (load average {results['load_average_at_start']:.1f} "
        f"at the start, {results['load_average_at_end']:.1f} at the end: a shared machine); "
        + ("one run" if runs == 1 else f"median (min–max) of {runs} interleaved runs")
        + f". Command: `{results['command']}`.",
        "",
        "| benchmark | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]

    def row(label: str, cells: dict[str, str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells.get(n, "—") for n in names) + " |")

    if "enqueue" in results:
        e = results["enqueue"]
        for key, label in (("one_by_one", "enqueue, one by one (msg/s)"), ("bulk", "enqueue, bulk (msg/s)¹")):
            row(label, {n: fmt(v[key]) for n, v in e.items()} | {CELERY_EARLY: "same as Celery", RQ_FORK: "same as RQ"})
        row(
            "round trips per enqueue, one by one / bulk",
            {n: f"{v['rt_one_by_one']['median']:.2f} / {v['rt_bulk']['median']:.3f}" for n, v in e.items()},
        )
    for job, label in (("noop", "no-op"), ("sleep10", "10 ms")):
        key = f"drain_{job}"
        if key in results:
            d = results[key]
            count = results["counts"][job]
            row(
                f"drain {count:,} {label} jobs², each at its fastest (jobs/s)",
                {n: fmt(v["jobs_s"]) for n, v in d.items()},
            )
            row(f"… in the configuration (fastest of {label})³", {n: v["config"] for n, v in d.items()})
            row(f"workers' round trips per {label} job", {n: fmt(v["round_trips_per_job"], 2) for n, v in d.items()})
            row(f"Redis CPU per {label} job (µs)", {n: fmt(v["redis_cpu_us_per_job"], 1) for n, v in d.items()})
    if "start_latency_ms" in results:
        s = results["start_latency_ms"]
        jobs = results["counts"]["latency_jobs"]
        row(
            f"enqueue-to-start p50, idle workers, jobs 0.2–1 s apart, {jobs} per run pooled (ms)",
            {n: f"{v['p50']:.1f}" for n, v in s.items()},
        )
        row("enqueue-to-start p99, idle workers (ms)", {n: f"{v['p99']:.1f}" for n, v in s.items()})
        row("… samples; configuration³", {n: f"{v['samples']}; {v['config']}" for n, v in s.items()})
    r = results.get("ratios", {})
    if r:
        lines.append("")
        parts = []
        for job, label in (("noop", "no-op"), ("sleep10", "10 ms")):
            if f"{job}_vs_celery" in r:
                parts.append(
                    f"{label} drain, this project over each peer at its fastest: stock Dramatiq "
                    f"{r[f'{job}_vs_dramatiq_stock']:.2f}×, Celery {r[f'{job}_vs_celery']:.2f}× "
                    f"({r[f'{job}_vs_celery_acks_early']:.2f}× acks early), RQ {r[f'{job}_vs_rq']:.2f}× "
                    f"({r[f'{job}_vs_rq_forking']:.1f}× forking)"
                )
        if "idle_p99_celery_over_dramatiq" in r:
            parts.append(
                f"idle p99: Celery / this project = {r['idle_p99_celery_over_dramatiq']:.2f}, stock Dramatiq / "
                f"this project = {r['idle_p99_dramatiq_stock_over_dramatiq']:.2f}"
            )
        if "dramatiq_round_trips_per_job_under_load" in r:
            parts.append(
                "Dramatiq round trips per job under load (enqueue one by one + workers) = "
                f"{r['dramatiq_round_trips_per_job_under_load']:.2f}"
            )
        lines.append("; ".join(parts) + ".")
    if "drain_noop" in results:
        us = results["drain_noop"][DRAMATIQ]["redis_cpu_us_per_job"]["median"]
        lines += [
            "",
            f"Redis-bound ceiling for Dramatiq no-op jobs: 1 s / {us:.1f} µs of Redis CPU per job ≈ "
            f"{1e6 / us:,.0f} jobs/s on one Redis core (the workers' Python runs out long before).",
        ]
    if "redis_ceiling_ops_s" in results:
        lines += [
            "",
            "redis-benchmark here (no pipelining): "
            + ", ".join(f"{k} {v:,.0f}/s" for k, v in results["redis_ceiling_ops_s"].items()),
        ]
    lines += [
        "",
        "¹ Capabilities differ: Celery has no pipelined publish (a `group` is sent one message per round "
        "trip); RQ's `enqueue_many` and Dramatiq's `enqueue_many` pipeline. Dramatiq and Celery with acks "
        "late ack after the job ran (a worker killed mid-job: the job runs again); Celery acking early loses "
        "it. RQ's SimpleWorker runs jobs inside the worker process (no per-job isolation: a job that "
        "crashes the process takes the worker with it), its default forks one process per job.",
        "² RQ drains a tenth of the jobs, its forking worker a fiftieth (same rate, shorter wait). "
        "Round trips are counted by each client (bench/roundtrips/), over the workers' whole run; Redis CPU "
        "is the `INFO cpu` delta of the Redis under test over the run, divided by the jobs.",
        "³ Each peer runs in every configuration below, interleaved; a row shows its fastest (drains: highest "
        "median jobs/s); idle latency runs each in its fastest no-op configuration (without a drain in the run: every "
        "one, the lowest p99 of its pooled samples shown). Every configuration's figure: "
        'bench/results/*.json, `"variants"`.',
    ]
    lines += ["", "Each configuration's exact worker command:", ""]
    lines += [f"- {n}, {label}: `{c}`" for n, cs in results["configs"].items() for label, c in cs.items()]
    return lines


if __name__ == "__main__":
    main()
