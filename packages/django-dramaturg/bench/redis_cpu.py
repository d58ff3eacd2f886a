"""Redis CPU per job: what one Redis core carries with this package's broker, middleware and worker.

    .venv/bin/python packages/django-dramaturg/bench/redis_cpu.py [--jobs 20000] [--repeats 3]

On the host project of the package's tests (bench/settings.py).

Starts a redis-server of its own (the system under test) and a second one for the jobs' counters
(so the job bodies' own INCR is not counted), then for each persistence setting (no AOF, AOF
everysec, AOF always): enqueues N no-op jobs in bulk (the outbox relay's path), drains them with
`dramatiq` as the Procfile runs it (2 processes x 8 threads, 100 ms idle poll), and reads the
Redis process's CPU time (INFO cpu, user + sys) before and after each phase. Also the CPU an idle
worker costs per second (its consumers poll). Prints a table; each figure is the median of the
runs (min-max).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench._setup import PACKAGE, PACKAGE_PATHS, VAR, free_port, redis_command, use_paths, wait_for_redis

NAMESPACE = "bench-cpu"
PERSISTENCE = {
    "no AOF": ["--appendonly", "no"],
    "AOF everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "AOF always": ["--appendonly", "yes", "--appendfsync", "always"],
}


class Server:
    def __init__(self, directory: Path, args: list[str]):
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            redis_command(self.port, directory, *args), stdout=subprocess.DEVNULL, start_new_session=True
        )
        wait_for_redis(self.port)
        self.client = redis.Redis(port=self.port)

    def cpu_s(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def worker(env: dict[str, str]) -> subprocess.Popen:
    # What the reference project's Procfile (`manage.py rundramatiq`) execs (same idle poll bound), plus the
    # benchmark's actors: bench/run.py's worker.
    from bench.run import Dramatiq

    return subprocess.Popen(
        [sys.executable, *Dramatiq.args],
        cwd=PACKAGE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # nothing of the worker's group outlives the run


def one_run(directory: Path, persistence: list[str], jobs: int, counter: redis.Redis) -> dict[str, float]:
    """Redis CPU microseconds per job enqueued and per job processed, and idle-worker CPU per second."""
    import dramatiq

    from bench import jobs_dramatiq

    system = Server(directory, persistence)
    try:
        broker: Any = dramatiq.get_broker()  # dramaturg.broker.RedisBroker
        broker.client = redis.Redis(port=system.port)  # this run's server, same broker and scripts
        broker.scripts = {name: broker.client.register_script(s.script) for name, s in broker.scripts.items()}
        counter.delete("bench:done")
        env = {**os.environ, "TEST_REDIS_URL": f"redis://127.0.0.1:{system.port}/0", "dramatiq_worker_timeout": "100"}

        before = system.cpu_s()
        for start in range(0, jobs, 1000):
            broker.enqueue_many(jobs_dramatiq.bench_noop.message() for _ in range(min(1000, jobs - start)))
        enqueue_s = system.cpu_s() - before

        process = worker(env)
        try:
            # CPU from the worker's start (its start-up counts against the jobs: conservative); wall
            # time from the first job done, so the throughput figure is the drain's alone.
            before, started = system.cpu_s(), time.monotonic()
            first_done, first_at = 0, 0.0
            while (done := int(counter.get("bench:done") or 0)) < jobs:
                if process.poll() is not None or time.monotonic() - started > 600:
                    raise RuntimeError("the worker died or stalled")
                if done and not first_at:
                    first_done, first_at = done, time.monotonic()
                time.sleep(0.005)
            drain_s, drain_wall = system.cpu_s() - before, time.monotonic() - (first_at or started)
            time.sleep(1.5)  # let the consumers fall back to their idle poll
            before, idle_started = system.cpu_s(), time.monotonic()
            time.sleep(5)
            idle = (system.cpu_s() - before) / (time.monotonic() - idle_started)
        finally:
            stop(process)
    finally:
        system.stop()
    return {
        "enqueue_us": enqueue_s / jobs * 1e6,
        "process_us": drain_s / jobs * 1e6,
        "drain_jobs_s": (jobs - first_done) / drain_wall,
        "idle_cpu_pct": idle * 100,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="redis-cpu-"))
    counter_server = Server(work / "counter", ["--appendonly", "no"])
    use_paths(PACKAGE_PATHS)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DRAMATIQ_NAMESPACE=NAMESPACE,
        LOG_LEVEL="WARNING",
        TEST_REDIS_URL=f"redis://127.0.0.1:{counter_server.port}/1",  # replaced per run; never the counters' db
        BENCH_COUNTER_URL=f"redis://127.0.0.1:{counter_server.port}/0",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(map(str, PACKAGE_PATHS)),
        DATABASE_URL=f"sqlite:///{VAR / 'bench-cpu.sqlite3'}",
    )
    import django

    django.setup()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in PERSISTENCE}
    try:
        for repeat in range(options.repeats):
            for name, args in PERSISTENCE.items():  # interleaved: the machine is shared
                results[name].append(
                    one_run(work / f"{repeat}-{name.replace(' ', '-')}", args, options.jobs, counter_server.client)
                )
                print(f"run {repeat + 1} {name}: {results[name][-1]}", file=sys.stderr)
    finally:
        counter_server.stop()

    def fig(runs: list[dict[str, float]], key: str, digits: int = 1) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"

    print(
        f"\nRedis CPU per job, {options.jobs:,} no-op jobs, median (min–max) of {options.repeats} runs; "
        "worker: 2 processes x 8 threads. Command: .venv/bin/python packages/django-dramaturg/bench/redis_cpu.py "
        f"--jobs {options.jobs} "
        f"--repeats {options.repeats}\n"
    )
    print(
        "| persistence | enqueue (µs CPU/job) | fetch+run+ack (µs CPU/job) | total (µs/job) | jobs/s per Redis core "
        "| drain (jobs/s, wall) | idle worker (% of a core) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        totals = [r["enqueue_us"] + r["process_us"] for r in runs]
        per_core = [1e6 / t for t in totals]
        print(
            f"| {name} | {fig(runs, 'enqueue_us')} | {fig(runs, 'process_us')} | "
            f"{statistics.median(totals):,.1f} | {statistics.median(per_core):,.0f} | "
            f"{fig(runs, 'drain_jobs_s', 0)} | {fig(runs, 'idle_cpu_pct', 2)} |"
        )


if __name__ == "__main__":
    main()
