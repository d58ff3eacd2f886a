"""Every benchmark in one run, against Redis servers of its own; a table, JSON and Markdown.

    .venv/bin/python bench/run.py [--repeats 3] [--large]

Installs bench/requirements.txt (Celery, RQ) into the running interpreter if
they are missing, starts redis-server on ports 6390 (the systems under test)
and 6391 (the jobs' own counters, so that INFO commandstats on 6390 counts
only what each system does). Runs are interleaved (A B C, A B C, ...) since the
machine is shared; each figure is the median of the runs with min-max.
--large adds bench/dashboard.py (1,000,000 dead letters) and bench/reports.py
(1,000,000 users), which take several minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SYSTEM_URL = "redis://127.0.0.1:6390"
COUNTER_URL = "redis://127.0.0.1:6391/0"
NAMESPACE = "bench-run"

os.environ.update(
    DJANGO_SETTINGS_MODULE="project.settings", REDIS_URL=f"{SYSTEM_URL}/0", DRAMATIQ_NAMESPACE=NAMESPACE,
    BENCH_COUNTER_URL=COUNTER_URL, BENCH_CELERY_URL=f"{SYSTEM_URL}/1", LOG_LEVEL="WARNING",
    DATABASE_URL=f"sqlite:///{ROOT / 'var' / 'bench-run.sqlite3'}", PYTHONUNBUFFERED="1",
)
sys.path.insert(0, str(ROOT))


def ensure_dependencies() -> None:
    try:
        import celery  # noqa: F401
        import rq  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements.txt")],
                       check=True)


def manage(*args: str, env: dict | None = None) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env or os.environ, check=True,
                          capture_output=True, text=True).stdout


def spread(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "runs": samples}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(p / 100 * (len(ordered) - 1))), len(ordered) - 1)]


class Process:
    def __init__(self, args: list[str], name: str, env: dict | None = None):
        (ROOT / "var").mkdir(exist_ok=True)
        self.log = open(ROOT / "var" / f"bench-{name}.log", "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env or os.environ, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


# --- the three systems --------------------------------------------------------

class Dramatiq:
    name = "Dramatiq (this project)"

    def __init__(self) -> None:
        import dramatiq

        from bench import jobs_dramatiq

        self.broker = dramatiq.get_broker()
        self.jobs = {"noop": jobs_dramatiq.bench_noop, "sleep10": jobs_dramatiq.bench_sleep10,
                     "note_start": jobs_dramatiq.bench_note_start}

    def send(self, job: str, *args) -> None:
        self.jobs[job].send(*args)

    def send_bulk(self, job: str, count: int) -> None:
        actor = self.jobs[job]
        for start in range(0, count, 1000):
            self.broker.enqueue_many(actor.message() for _ in range(min(1000, count - start)))

    def worker(self, processes: int) -> Process:
        # What the Procfile's `manage.py rundramatiq` execs (same idle poll bound), plus the benchmark's actors.
        env = {**os.environ, "dramatiq_worker_timeout": os.environ.get("BENCH_DRAMATIQ_WORKER_TIMEOUT", "100")}
        return Process([sys.executable, "-m", "dramatiq", "--path", ".", "--processes", str(processes),
                        "--threads", os.environ.get("BENCH_DRAMATIQ_THREADS", "8"), "django_dramatiq.setup",
                        "bench.jobs_dramatiq", "--queues", "bench"], "dramatiq", env)


class Celery:
    name = "Celery"

    def __init__(self) -> None:
        from bench import jobs_celery

        self.app = jobs_celery.app
        self.jobs = {"noop": jobs_celery.noop, "sleep10": jobs_celery.sleep10, "note_start": jobs_celery.note_start}

    def send(self, job: str, *args) -> None:
        self.jobs[job].delay(*args)

    def send_bulk(self, job: str, count: int) -> None:
        from celery import group

        task = self.jobs[job]
        for start in range(0, count, 1000):
            group(task.s() for _ in range(min(1000, count - start))).apply_async()

    def worker(self, processes: int) -> Process:
        return Process([sys.executable, "-m", "celery", "-A", "bench.jobs_celery", "worker", "--concurrency",
                        str(processes), "--pool", "prefork", "-Q", "bench", "--loglevel", "WARNING"], "celery")


class RQ:
    name = "RQ"

    def __init__(self) -> None:
        import redis
        from rq import Queue

        from bench import jobs_common

        self.queue = Queue("bench", connection=redis.Redis.from_url(f"{SYSTEM_URL}/2"))
        self.jobs = {"noop": jobs_common.noop, "sleep10": jobs_common.sleep10, "note_start": jobs_common.note_start}

    def send(self, job: str, *args) -> None:
        self.queue.enqueue(self.jobs[job], *args)

    def send_bulk(self, job: str, count: int) -> None:
        from rq import Queue

        for start in range(0, count, 1000):
            self.queue.enqueue_many([Queue.prepare_data(self.jobs[job]) for _ in range(min(1000, count - start))])

    def worker(self, processes: int) -> Process:
        return Process([sys.executable, "-m", "rq.cli", "worker-pool", "-n", str(processes), "-u", f"{SYSTEM_URL}/2",
                        "-q", "bench"], "rq")


# --- measurements ---------------------------------------------------------------

def redis_clients():
    import redis

    return redis.Redis.from_url(f"{SYSTEM_URL}/0"), redis.Redis.from_url(COUNTER_URL)


def reset() -> None:
    system_redis, counter = redis_clients()
    system_redis.flushall()
    counter.flushall()
    system_redis.config_resetstat()


def commands_total() -> int:
    system_redis, _ = redis_clients()
    return sum(v["calls"] for k, v in system_redis.info("commandstats").items() if k.startswith("cmdstat_"))


def enqueue_rate(send: Callable[[], None], count: int) -> float:
    reset()
    started = time.perf_counter()
    send()
    return count / (time.perf_counter() - started)


def drain(system, job: str, count: int, processes: int = 2) -> tuple[float, float]:
    """Jobs/s draining a pre-filled queue, and the system's Redis commands per job."""
    reset()
    system.send_bulk(job, count)
    _, counter = redis_clients()
    before = commands_total()
    worker = system.worker(processes)
    try:
        deadline = time.monotonic() + 600
        while int(counter.get("bench:done") or 0) < 1:
            if time.monotonic() > deadline or worker.proc.poll() is not None:
                raise RuntimeError(f"{system.name} did not start; see var/bench-*.log")
            time.sleep(0.002)
        started, first = time.perf_counter(), int(counter.get("bench:done"))
        while (done := int(counter.get("bench:done") or 0)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name} drained {done}/{count}")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        calls = commands_total() - before
    finally:
        worker.stop()
    return (count - first) / seconds, calls / count


def start_latency(system, jobs: int = 150, gap_s: float = 0.02) -> tuple[float, float]:
    """Enqueue-to-start p50 / p99 in ms on an idle worker."""
    reset()
    _, counter = redis_clients()
    worker = system.worker(1)
    try:
        system.send("noop")
        deadline = time.monotonic() + 60
        while not counter.get("bench:done"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name} did not start")
            time.sleep(0.01)
        time.sleep(1.5)  # idle, as a worker between bursts is
        for _ in range(jobs):
            system.send("note_start", time.time())
            time.sleep(gap_s)
        while counter.llen("bench:latency") < jobs:
            time.sleep(0.05)
        delays = [float(v) * 1000 for v in counter.lrange("bench:latency", 0, -1)]
    finally:
        worker.stop()
    return percentile(delays, 50), percentile(delays, 99)


def redis_ceiling() -> dict:
    out = subprocess.run(["redis-benchmark", "-p", "6390", "-q", "-n", "100000", "-t", "set,lpush,lpop"],
                         capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        if ":" in line and "requests per second" in line:
            name, rest = line.split(":", 1)
            figures[name.strip()] = float(rest.split("requests per second")[0].strip().split()[-1])
    return figures


def signup_latency(repeats: int) -> dict:
    """p50 / p99 of POST /api/signup/ over HTTP with an SMTP server taking 500 ms per message."""
    from tests.http import post_json
    from tests.smtp_sink import SmtpSink, free_port

    sink = SmtpSink()
    sink.handler.delay = 0.5
    sink.start()
    runs: dict[str, list[tuple[float, float]]] = {"async": [], "sync": []}
    try:
        for repeat in range(repeats):
            for mode, count in (("async", 200), ("sync", 12)):
                db = ROOT / "var" / "bench-signup.sqlite3"
                db.unlink(missing_ok=True)
                # tests.settings: the same project settings with a fast password hasher, so the figure
                # isolates what the request does about the email (PBKDF2 adds the same to both modes);
                # bench.settings_in_request adds the bench app that sends the email in the request.
                module = "bench.settings_in_request" if mode == "sync" else "tests.settings"
                env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, "DATABASE_URL": f"sqlite:///{db}",
                       "EMAIL_URL": sink.url,
                       "SIGNUP_RATE_PER_MINUTE": "1000000", "DEBUG": "0", "SECURE_SSL_REDIRECT": "0"}
                manage("migrate", env=env)
                port = free_port()
                web = Process([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                              f"web-{mode}", env)
                try:
                    url = f"http://127.0.0.1:{port}/api/signup/"
                    for _ in range(100):
                        try:
                            post_json(url, b"{}")
                            break
                        except OSError:
                            time.sleep(0.2)
                    # One uncounted signup opens the database, Redis and SMTP connections.
                    post_json(url, {"email": f"warm-{mode}{repeat}@example.com",
                                    "password": "correct-horse-battery-staple"})
                    times = []
                    for n in range(count):
                        status, body, seconds = post_json(url, {"email": f"{mode}{repeat}-{n}@example.com",
                                                                 "password": "correct-horse-battery-staple"})
                        assert status == 202, body
                        times.append(seconds * 1000)
                finally:
                    web.stop()
                runs[mode].append((percentile(times, 50), percentile(times, 99)))
    finally:
        sink.stop()
    result = {mode: {"p50_ms": spread([a for a, _ in v]), "p99_ms": spread([b for _, b in v]),
                     "requests_per_run": count} for (mode, v), count in zip(runs.items(), (200, 12))}
    result["p99_ratio"] = result["sync"]["p99_ms"]["median"] / result["async"]["p99_ms"]["median"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--only", help="comma list: ceiling,enqueue,processing,latency,signup")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {"ceiling", "enqueue", "processing", "latency", "signup"}
    ensure_dependencies()
    manage("ensure_redis", "--url", f"{SYSTEM_URL}/0")
    manage("ensure_redis", "--url", COUNTER_URL)
    manage("migrate")
    import django

    django.setup()
    systems = [Dramatiq(), Celery(), RQ()]
    results: dict = {"repeats": args.repeats, "machine": f"{os.cpu_count()} cores", "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    if "ceiling" in only:
        results["redis_ceiling_ops_s"] = redis_ceiling()
        print("redis-benchmark:", results["redis_ceiling_ops_s"], flush=True)
    if "enqueue" in only:
        table = {s.name: {"one_by_one": [], "bulk": []} for s in systems}
        for _ in range(args.repeats):
            for s in systems:
                table[s.name]["one_by_one"].append(enqueue_rate(lambda: [s.send("noop") for _ in range(3000)], 3000))
                table[s.name]["bulk"].append(enqueue_rate(lambda: s.send_bulk("noop", 20000), 20000))
        results["enqueue_per_s"] = {n: {k: spread(v) for k, v in d.items()} for n, d in table.items()}
        print("enqueue:", {n: {k: round(v["median"]) for k, v in d.items()}
                           for n, d in results["enqueue_per_s"].items()}, flush=True)
    if "processing" in only:
        for job, count in (("noop", 20000), ("sleep10", 2000)):
            rates = {s.name: [] for s in systems}
            calls = {s.name: [] for s in systems}
            for _ in range(args.repeats):
                for s in systems:
                    rate, per_job = drain(s, job, count)
                    rates[s.name].append(rate)
                    calls[s.name].append(per_job)
            results[f"processing_{job}_jobs_s"] = {n: spread(v) for n, v in rates.items()}
            results[f"redis_commands_per_{job}_job"] = {n: statistics.median(v) for n, v in calls.items()}
            print(f"processing {job}:", {n: round(v["median"]) for n, v in results[f"processing_{job}_jobs_s"].items()},
                  "commands/job:", {n: round(v, 1) for n, v in results[f"redis_commands_per_{job}_job"].items()},
                  flush=True)
    if "latency" in only:
        lat = {s.name: [] for s in systems}
        for _ in range(args.repeats):
            for s in systems:
                lat[s.name].append(start_latency(s))
        results["start_latency_ms"] = {n: {"p50": spread([a for a, _ in v]), "p99": spread([b for _, b in v])}
                                       for n, v in lat.items()}
        print("latency:", {n: (round(v["p50"]["median"], 1), round(v["p99"]["median"], 1))
                           for n, v in results["start_latency_ms"].items()}, flush=True)
    if "signup" in only:
        results["signup_latency"] = signup_latency(args.repeats)
        print("signup p50/p99 ms:", {m: (round(v["p50_ms"]["median"], 1), round(v["p99_ms"]["median"], 1))
                                     for m, v in results["signup_latency"].items() if m != "p99_ratio"},
              "ratio", round(results["signup_latency"]["p99_ratio"], 1), flush=True)
    if args.large:
        results["dashboard_1m"] = subprocess.run([sys.executable, "bench/dashboard.py"], cwd=ROOT, text=True,
                                                 capture_output=True).stdout
        results["reports_1m"] = subprocess.run([sys.executable, "bench/reports.py"], cwd=ROOT, text=True,
                                               capture_output=True).stdout
    write(results)


def fmt(d: dict, digits: int = 0) -> str:
    return f"{d['median']:,.{digits}f} ({d['min']:,.{digits}f}–{d['max']:,.{digits}f})"


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))
    names = ["Dramatiq (this project)", "Celery", "RQ"]
    lines = [f"Measured {results['at']} on {results['machine']}; median (min–max) of {results['repeats']} "
             "interleaved runs. Command: `.venv/bin/python bench/run.py`.", "",
             "| benchmark | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, key: str, sub: str | None = None, digits: int = 0) -> None:
        if key in results:
            cells = [fmt(results[key][n][sub] if sub else results[key][n], digits) for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("enqueue, one by one (msg/s)", "enqueue_per_s", "one_by_one")
    row("enqueue, bulk (msg/s)", "enqueue_per_s", "bulk")
    row("drain 20,000 no-op jobs, 2 processes (jobs/s)", "processing_noop_jobs_s")
    row("drain 2,000 jobs of 10 ms, 2 processes (jobs/s)", "processing_sleep10_jobs_s")
    row("enqueue-to-start p50, idle worker (ms)", "start_latency_ms", "p50", 1)
    row("enqueue-to-start p99, idle worker (ms)", "start_latency_ms", "p99", 1)
    for job in ("noop", "sleep10"):
        key = f"redis_commands_per_{job}_job"
        if key in results:
            lines.append(f"| Redis commands per {job} job | " + " | ".join(f"{results[key][n]:.1f}" for n in names)
                         + " |")
    if "processing_noop_jobs_s" in results:
        p = results["processing_noop_jobs_s"]
        d = p[names[0]]["median"]
        lines += ["", f"No-op throughput: Dramatiq / Celery = {d / p['Celery']['median']:.2f}×, "
                      f"Dramatiq / RQ = {d / p['RQ']['median']:.2f}×."]
    if "redis_ceiling_ops_s" in results:
        lines += ["", "Redis's own ceiling here (redis-benchmark, no pipelining): " + ", ".join(
            f"{k} {v:,.0f}/s" for k, v in results["redis_ceiling_ops_s"].items())]
    if "signup_latency" in results:
        s = results["signup_latency"]
        lines += ["", "Signup latency, `POST /api/signup/` over HTTP, SMTP server taking 500 ms per message:", "",
                  "| mode | p50 (ms) | p99 (ms) | requests per run |", "|---|---|---|---|",
                  f"| email sent in the request | {fmt(s['sync']['p50_ms'], 1)} | {fmt(s['sync']['p99_ms'], 1)} | "
                  f"{s['sync']['requests_per_run']} |",
                  f"| email through Dramatiq (outbox) | {fmt(s['async']['p50_ms'], 1)} | "
                  f"{fmt(s['async']['p99_ms'], 1)} | {s['async']['requests_per_run']} |", "",
                  f"p99 ratio: {s['p99_ratio']:.1f}× (password hashing is the tests' fast hasher in both modes; "
                  "Django's PBKDF2 adds the same few hundred ms to each)."]
    (RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
