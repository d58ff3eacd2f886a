"""Every benchmark in one run, each system at its best, against Redis servers of its own.

    python3 bench/run.py [--repeats 3] [--quick] [--only drain,latency,...] [--large]

The first run creates a virtualenv of its own, var/bench-venv, with requirements.txt and
bench/requirements.txt (Celery, RQ: never installed into the project's .venv), and re-runs
itself there; later runs reuse it (re-installed when a requirements file changes).

It starts two redis-servers (ports 6390 and 6391, or free ones if those are taken): one for the
systems under test, one for the jobs' own counters, so what is measured on the first is only what
each system does. Runs are interleaved (A B C, A B C, ...) since the machine is shared; each
figure is the median of the runs with min-max. Round trips are counted by the client (a redis-py
hook, bench/roundtrips/, in every process); Redis CPU is the `INFO cpu` delta over the run.

--quick: one interleaved run with smaller counts (under 5 minutes), written to
bench/results/quick.json (figures, each system's exact worker command, and the headline ratios).
Otherwise: bench/results/results.{json,md}. --large adds bench/dashboard.py and bench/reports.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "packages" / "django-dramaturg" / "tests"))  # harness.*, the shared test parts

from bench._setup import free_port, redis_command, wait_for_redis  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BENCH_VENV = ROOT / "var" / "bench-venv"
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "bench" / "requirements.txt"]
ROUNDTRIPS = ROOT / "bench" / "roundtrips"
NAMESPACE = "bench-run"
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


# --- the bench's own virtualenv ------------------------------------------------------------


def base_python() -> str:
    """A Python >= 3.12 (Django 6.1 needs it) to build the bench's virtualenv with: this one, else the
    first of python3.13 / python3.12 / pyenv's installs that runs (as the Makefile chooses)."""
    if sys.version_info >= (3, 12):  # noqa: UP036 (run by any python3; the venv it builds needs 3.12)
        return sys.executable
    home = Path.home() / ".pyenv" / "versions"
    candidates = [shutil.which(name) for name in ("python3.13", "python3.12")]
    candidates += [str(p) for p in sorted(home.glob("3.1[23]*/bin/python3.1[23]"))]
    for candidate in filter(None, candidates):
        check = [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"]
        if subprocess.run(check, capture_output=True).returncode == 0:
            return candidate
    sys.exit(f"No Python >= 3.12 found (this is {sys.version.split()[0]}); install python3.12 or newer")


def ensure_bench_venv() -> None:
    """Re-run this script in var/bench-venv (created or refreshed from the requirements files)."""
    python = BENCH_VENV / "bin" / "python"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()
    marker = BENCH_VENV / ".installed"
    if not (marker.exists() and marker.read_text() == digest):
        print(f"Installing the bench's virtualenv in {BENCH_VENV} ...", flush=True)
        subprocess.run([base_python(), "-m", "venv", "--clear", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *[a for p in REQUIREMENTS for a in ("-r", str(p))]], check=True
        )
        marker.write_text(digest)
    if Path(sys.prefix).resolve() != BENCH_VENV.resolve():
        os.execv(str(python), [str(python), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])  # the calling script


# --- processes -----------------------------------------------------------------------------


class Process:
    def __init__(self, args: list[str], name: str, env: dict | None = None):
        (ROOT / "var").mkdir(exist_ok=True)
        self.log = open(ROOT / "var" / f"bench-{name}.log", "w")  # noqa: SIM115  # closed by stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env or os.environ, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


class Group:
    """Several processes started and stopped together (Celery's two workers)."""

    def __init__(self, processes: list[Process]):
        self.processes = processes

    def alive(self) -> bool:
        return all(p.alive() for p in self.processes)

    def stop(self) -> None:
        for p in self.processes:
            p.stop()


class RedisServer(Process):
    def __init__(self, port: int, name: str):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
        super().__init__(redis_command(port, self.dir, "--appendonly", "no"), f"redis-{name}")
        wait_for_redis(port)


def setup_environment(system_port: int, counter_port: int) -> None:
    system_url = f"redis://127.0.0.1:{system_port}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        REDIS_URL=f"{system_url}/0",
        DRAMATIQ_NAMESPACE=NAMESPACE,
        BENCH_SYSTEM_URL=system_url,
        BENCH_COUNTER_URL=f"redis://127.0.0.1:{counter_port}/0",
        BENCH_CELERY_URL=f"{system_url}/1",
        BENCH_RQ_URL=f"{system_url}/2",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{ROOT / 'var' / 'bench-run.sqlite3'}",
        PYTHONUNBUFFERED="1",
        # Every process the bench starts counts its round trips to the system's Redis.
        PYTHONPATH=os.pathsep.join([str(ROUNDTRIPS), str(ROOT)]),
        BENCH_COUNT_PORT=str(system_port),
        BENCH_COUNT_ROLE="worker",
    )
    # This process is the producer: its round trips are counted under another role.
    spec = importlib.util.spec_from_file_location("bench_roundtrips", ROUNDTRIPS / "sitecustomize.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    os.environ["BENCH_COUNT_ROLE"] = "producer"
    spec.loader.exec_module(module)
    module.install()
    module.count(0)  # starts its flusher as "producer"
    os.environ["BENCH_COUNT_ROLE"] = "worker"


def manage(*args: str, env: dict | None = None) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env or os.environ,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def spread(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "runs": samples}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(p / 100 * (len(ordered) - 1)), len(ordered) - 1)]


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

    # The Procfile's worker (prefetch tuned), with the benchmark's actors instead of the project's.
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

    note = "  # the project's RedisBroker and middleware (settings.DRAMATIQ_BROKER)"

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


def clients() -> tuple[Any, Any]:
    import redis

    return (
        redis.Redis.from_url(f"{os.environ['BENCH_SYSTEM_URL']}/0"),
        redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"]),
    )


def reset() -> None:
    system, counter = clients()
    system.flushall()
    counter.flushall()


def redis_cpu_s() -> float:
    system, _ = clients()
    info = system.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def round_trips(role: str) -> int:
    time.sleep(0.15)  # the counting threads flush every 50 ms
    _, counter = clients()
    return int(counter.get(f"bench:rt:{role}") or 0)


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


def wait_until(predicate: Callable[[], bool], worker, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or not worker.alive():
            raise RuntimeError(f"{what}: gave up; see var/bench-*.log")
        time.sleep(0.002)


def redis_commands() -> int:
    system, _ = clients()
    return int(system.info("stats")["total_commands_processed"])


def processes_cpu_s(worker: Process | Group) -> float:
    """User + system CPU seconds of the worker's processes and their children (each worker runs in a
    session of its own, so its process group is its tree), including children already reaped."""
    groups = {p.proc.pid for p in (worker.processes if isinstance(worker, Group) else [worker])}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile (its parent's cutime has it once reaped)
        if int(fields[2]) in groups:  # pgrp; then utime, stime, cutime, cstime
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def booted(worker: Process | Group, quiet_s: float = 0.3, timeout: float = 120) -> None:
    """Wait until the worker's processes have booted and sit idle (no CPU used for `quiet_s`)."""
    deadline = time.monotonic() + timeout
    used = processes_cpu_s(worker)
    while True:
        time.sleep(quiet_s)
        now = processes_cpu_s(worker)
        if now - used < 0.02:
            return
        if time.monotonic() > deadline or not worker.alive():
            raise RuntimeError("the workers did not settle; see var/bench-*.log")
        used = now


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


# --- the web tier ----------------------------------------------------------------------------------

GUNICORN = ["-m", "gunicorn", "-c", "gunicorn.conf.py"]


def web_env(database_url: str, port: int, settings_module: str = "tests.settings", **extra: str) -> dict:
    # tests.settings: the project's settings with the tests' fast password hasher, so the figures show
    # the request path, not PBKDF2 (which adds ~250 ms of CPU per signup, the same in every mode).
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"{os.environ['BENCH_SYSTEM_URL']}/3",
        "SIGNUP_RATE_PER_MINUTE": "100000000",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "BIND": f"127.0.0.1:{port}",
        "BENCH_COUNT_PORT": "0",
        **extra,
    }


def wait_http(port: int, proc) -> None:
    for _ in range(300):
        if not proc.alive():
            raise RuntimeError("the web server exited; see var/bench-web*.log")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the web server did not answer")


async def _post(port: int, body: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/signup/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    return int(status_line.split()[1])


async def _load(port: int, clients_n: int, seconds: float, tag: str) -> tuple[list[float], int, int]:
    times: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def client(n: int) -> None:
        nonlocal errors
        while time.monotonic() < end:
            body = json.dumps(
                {"email": f"{tag}-{n}-{next(counter)}@example.com", "password": "correct-horse-battery-staple"}
            ).encode()
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(_post(port, body), 30)
            except (TimeoutError, OSError, ValueError, IndexError):
                status = 0
            if status == 202:
                times.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    await asyncio.gather(*(client(n) for n in range(clients_n)))
    return times, len(times), errors


def web_load(database: str, clients_n: int, seconds: float) -> dict:
    """`clients_n` concurrent clients signing up through the API for `seconds`, against gunicorn."""
    name = f"bench_web_{os.getpid()}"
    if database == "postgresql":
        import psycopg

        admin = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        url = admin.rsplit("/", 1)[0] + f"/{name}?conn_max_age=600"
    else:
        db = ROOT / "var" / "bench-web.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}?conn_max_age=600"
    port = free_port()
    env = web_env(url, port)
    try:
        manage("migrate", env=env)
        web = Process([sys.executable, *GUNICORN], f"web-{database}", env)
        try:
            wait_http(port, web)
            asyncio.run(_load(port, 10, 1, "warm"))
            times, ok, errors = asyncio.run(_load(port, clients_n, seconds, "load"))
        finally:
            web.stop()
    finally:
        if database == "postgresql":
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return {
        "p50_ms": percentile(times, 50),
        "p99_ms": percentile(times, 99),
        "requests": ok,
        "errors": errors,
        "requests_s": ok / seconds,
        "clients": clients_n,
        "seconds": seconds,
    }


def signup_modes(repeats: int) -> dict:
    """One client, sequential signups, the SMTP server taking 500 ms per message: the email sent in the
    request vs through Dramatiq (the outbox)."""
    from harness.http import post_json
    from harness.smtp_sink import SmtpSink

    sink = SmtpSink()
    sink.handler.delay = 0.5
    sink.start()
    runs: dict[str, list[tuple[float, float]]] = {"async": [], "sync": []}
    counts = {"async": 200, "sync": 12}
    try:
        for repeat in range(repeats):
            for mode, count in counts.items():
                db = ROOT / "var" / "bench-signup.sqlite3"
                db.unlink(missing_ok=True)
                module = "bench.settings_in_request" if mode == "sync" else "tests.settings"
                port = free_port()
                env = web_env(f"sqlite:///{db}", port, module, EMAIL_URL=sink.url)
                manage("migrate", env=env)
                web = Process([sys.executable, *GUNICORN], f"web-{mode}", env)
                try:
                    wait_http(port, web)
                    url = f"http://127.0.0.1:{port}/api/signup/"
                    post_json(
                        url, {"email": f"warm-{mode}{repeat}@example.com", "password": "correct-horse-battery-staple"}
                    )
                    times = []
                    for n in range(count):
                        status, body, seconds = post_json(
                            url,
                            {"email": f"{mode}{repeat}-{n}@example.com", "password": "correct-horse-battery-staple"},
                        )
                        assert status == 202, body
                        times.append(seconds * 1000)
                finally:
                    web.stop()
                runs[mode].append((percentile(times, 50), percentile(times, 99)))
    finally:
        sink.stop()
    result: dict = {
        mode: {
            "p50_ms": spread([a for a, _ in v]),
            "p99_ms": spread([b for _, b in v]),
            "requests_per_run": counts[mode],
        }
        for mode, v in runs.items()
    }
    result["p99_ratio"] = result["sync"]["p99_ms"]["median"] / result["async"]["p99_ms"]["median"]
    return result


# --- the run -------------------------------------------------------------------------------------------

FULL = {
    "enqueue": 3000,
    "bulk": 20000,
    "noop": 20000,
    "sleep10": 2000,
    "latency_jobs": 60,
    "web_clients": 200,
    "web_seconds": 30,
}
QUICK = {
    "enqueue": 1000,
    "bulk": 5000,
    "noop": 8000,
    "sleep10": 1000,
    "latency_jobs": 150,  # one run: the p99 of 150 samples
    "web_clients": 200,
    "web_seconds": 30,
}
# RQ runs one to two orders of magnitude fewer jobs per second: fewer jobs, the same rate.
SHARE = {"RQ": 0.1, "RQ, forking worker": 0.02}
ALL_PARTS = ["ceiling", "enqueue", "drain", "latency", "web", "signup", "welcome"]
QUICK_PARTS = ["enqueue", "drain", "latency"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run, smaller counts: bench/results/quick.json")
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--only", help="comma list of: " + ",".join(ALL_PARTS))
    args = parser.parse_args()
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
    if "welcome" in only:  # the real job, on redis-servers and a mail server of its own (bench/welcome_email.py)
        quick = ["--emails", "500", "--default-rate-emails", "60", "--repeats", "1", "--databases", "sqlite"]
        subprocess.run([sys.executable, "bench/welcome_email.py", *(quick if args.quick else [])], cwd=ROOT, check=True)
        welcome = json.loads((RESULTS / "welcome_email.json").read_text())
        results["welcome_email"] = {"ratios": welcome["ratios"], "table": (RESULTS / "welcome_email.md").read_text()}
    results.update(command="python3 bench/run.py" + (" --quick" if args.quick else ""), counts=counts, repeats=repeats)
    if args.large:
        for script, key in (("dashboard", "dashboard_1m"), ("reports", "reports_1m")):
            results[key] = subprocess.run(
                [sys.executable, f"bench/{script}.py"], cwd=ROOT, text=True, capture_output=True
            ).stdout
    write(results, quick=args.quick, merge=bool(args.only))


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
    if "web" in only:
        results["web_load"] = {
            db: web_load(db, counts["web_clients"], counts["web_seconds"]) for db in ("sqlite", "postgresql")
        }
        print("web:", results["web_load"], flush=True)
    if "signup" in only:
        results["signup_modes"] = signup_modes(repeats)
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


def fmt(d: dict, digits: int = 0) -> str:
    if d["min"] == d["max"]:
        return f"{d['median']:,.{digits}f}"
    return f"{d['median']:,.{digits}f} ({d['min']:,.{digits}f}–{d['max']:,.{digits}f})"


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
    if "web_load" in results:
        w = results["web_load"]
        first = next(iter(w.values()))
        lines += [
            "",
            f"Web tier: {first['clients']} concurrent clients signing up through `POST /api/signup/` for "
            f"{first['seconds']:.0f} s against `make serve` (gunicorn, gunicorn.conf.py; `conn_max_age=600` "
            "in `DATABASE_URL`), each request a new connection, the load generator on the same cores "
            "(closed loop: latency ≈ clients / throughput):",
            "",
            "| database | p50 (ms) | p99 (ms) | signups/s | errors |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {db} | {v['p50_ms']:.1f} | {v['p99_ms']:.1f} | {v['requests_s']:,.0f} | {v['errors']} |"
            for db, v in w.items()
        ]
    if "signup_modes" in results:
        s = results["signup_modes"]
        lines += [
            "",
            "One client, `POST /api/signup/`, SMTP server taking 500 ms per message:",
            "",
            "| mode | p50 (ms) | p99 (ms) | requests per run |",
            "|---|---|---|---|",
            f"| email sent in the request | {fmt(s['sync']['p50_ms'], 1)} | {fmt(s['sync']['p99_ms'], 1)} | "
            f"{s['sync']['requests_per_run']} |",
            f"| email through Dramatiq (outbox) | {fmt(s['async']['p50_ms'], 1)} | "
            f"{fmt(s['async']['p99_ms'], 1)} | {s['async']['requests_per_run']} |",
        ]
    return lines


def write(results: dict, *, quick: bool, merge: bool) -> None:
    """Write the results; with --only, the parts measured replace those parts of the last results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "quick" if quick else "results"
    path = RESULTS / f"{stem}.json"
    if merge and path.exists():
        previous = json.loads(path.read_text())
        measured = {k: v for k, v in results.items() if k not in ("ratios", "command")}
        results = {**previous, **measured, "ratios": {**previous.get("ratios", {}), **results["ratios"]}}
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2))
    lines = table(results)
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
