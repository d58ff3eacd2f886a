"""What every benchmark shares, the package's (this directory) and the reference project's (/bench, which
imports this file by path): ports, redis-servers of their own, Django set up on a Redis database and SQLite
file of their own, the processes a bench starts and what it measures of them, and the bench's virtualenv.

The package's benches run on the host project of its tests (tests/host/settings.py, through
bench/settings.py); the project's pass its settings module and directory instead. Self-contained: no
`bench.` import, so either bench can import it as `_setup`."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent  # packages/django-dramaturg/bench
PACKAGE = BENCH.parent
ROOT = PACKAGE.parent.parent  # the repository: var/ (logs, databases, the bench's virtualenv), requirements.txt
VAR = ROOT / "var"
#: What the package's benches import, in order: dramaturg from its source, the host project and the
#: harness from its tests, `bench.*` from here.
PACKAGE_PATHS = (PACKAGE / "src", PACKAGE / "tests", PACKAGE)
ROUNDTRIPS = BENCH / "roundtrips"
BENCH_VENV = VAR / "bench-venv"
REQUIREMENTS = [ROOT / "requirements.txt", BENCH / "requirements.txt"]
NAMESPACE = "bench-run"


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


def ensure_redis(url: str) -> None:
    """A redis-server at `url` (on this machine): if none answers, one of the bench's own, daemonized, its
    files in var/redis-<port>/; it stays up for a later run (the data a bench --keep's)."""
    port = urlsplit(url).port or 6379
    if redis_answers(port):
        return
    directory = VAR / f"redis-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    options = ("--daemonize", "yes", "--logfile", str(directory / "redis.log"))
    subprocess.run(redis_command(port, directory, *options), check=True)
    wait_for_redis(port)


def use_paths(paths: Sequence[Path]) -> None:
    """Import from `paths` first in this process (the same as the processes it starts, on PYTHONPATH)."""
    sys.path[:0] = [str(p) for p in paths if str(p) not in sys.path]


def setup_django(namespace: str, settings: str = "bench.settings", paths: Sequence[Path] = PACKAGE_PATHS) -> None:
    """Django in this process on BENCH_REDIS_URL (default database 14 of the local Redis, started if none
    answers) under `namespace`, and a SQLite file of its own, migrated."""
    use_paths(paths)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"] = (
        url  # the project's settings read one, the host's the other
    )
    os.environ["DRAMATIQ_NAMESPACE"] = namespace
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{VAR / f'bench-{namespace}.sqlite3'}")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    VAR.mkdir(exist_ok=True)
    ensure_redis(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def superuser() -> Any:
    """The bench's staff superuser, to sign the console's pages in with."""
    from django.contrib.auth import get_user_model

    defaults = {"email": "bench@example.com", "is_staff": True, "is_superuser": True}
    return get_user_model().objects.get_or_create(username="bench", defaults=defaults)[0]


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


def spread(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "runs": samples}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(p / 100 * (len(ordered) - 1)), len(ordered) - 1)]


def fmt(d: dict, digits: int = 0) -> str:
    """A spread() as 'median (min–max)'."""
    if d["min"] == d["max"]:
        return f"{d['median']:,.{digits}f}"
    return f"{d['median']:,.{digits}f} ({d['min']:,.{digits}f}–{d['max']:,.{digits}f})"


def write_results(
    directory: Path,
    stem: str,
    results: dict,
    table: Callable[[dict], list[str]],
    *,
    merge: bool,
    ratios: Callable[[dict], dict] | None = None,
) -> None:
    """Write `results` to directory/stem.json and its table to stem.md, and print the table; with `merge`
    (a run of some parts only), the parts measured replace those parts of the last results, each part keeping
    when it was measured (`"parts_at"`), and the table ends with those dates when they differ. `ratios`
    works the ratios out again from the merged parts (else the last ones are kept beside the new ones)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.json"
    results = {**results, "parts_at": {k: results.get("at", "") for k in results if k not in _NOT_PARTS}}
    if merge and path.exists():
        previous = json.loads(path.read_text())
        measured = {k: v for k, v in results.items() if k not in ("ratios", "command", "parts_at")}
        parts_at = {k: previous.get("at", "") for k in previous if k not in _NOT_PARTS}
        results = {
            **previous,
            **measured,
            "ratios": {**previous.get("ratios", {}), **results.get("ratios", {})},
            "parts_at": {**parts_at, **previous.get("parts_at", {}), **results["parts_at"]},
        }
        if ratios is not None:
            results["ratios"] = ratios(results)
    path.write_text(json.dumps(results, indent=2))
    lines = table(results)
    if len(set(results["parts_at"].values())) > 1:
        dates = "; ".join(f"{part}: {at}" for part, at in sorted(results["parts_at"].items()))
        lines += ["", f"Parts measured in separate runs (`--only`), each when: {dates}."]
    (directory / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# What a results file holds beside the parts measured: when, where, how, and the ratios worked out of them.
_NOT_PARTS = {"at", "machine", "load_average_at_start", "load_average_at_end", "load_average", "configs", "command"}
_NOT_PARTS |= {"counts", "repeats", "ratios", "parts_at"}


def runner_arguments(doc: str, parts: list[str]) -> argparse.Namespace:
    """The options of a bench's run.py: --repeats, --quick, --large, --only (a comma list of `parts`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run, smaller counts: bench/results/quick.json")
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--only", help="comma list of: " + ",".join(parts))
    return parser.parse_args()


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
    """Re-run the calling script in var/bench-venv (created or refreshed from the requirements files:
    the repository's and bench/requirements.txt's Celery, RQ, django-mailer, django-post-office)."""
    python = BENCH_VENV / "bin" / "python"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()
    marker = BENCH_VENV / ".installed"
    if not (marker.exists() and marker.read_text() == digest):
        print(f"Installing the bench's virtualenv in {BENCH_VENV} ...", flush=True)
        subprocess.run([base_python(), "-m", "venv", "--clear", str(BENCH_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *[a for p in REQUIREMENTS for a in ("-r", str(p))]],
            cwd=ROOT,  # requirements.txt names the package by its path from here
            check=True,
        )
        marker.write_text(digest)
    if Path(sys.prefix).resolve() != BENCH_VENV.resolve():
        os.execv(str(python), [str(python), str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])  # the calling script


# --- processes -----------------------------------------------------------------------------


def _exit_on_sigterm() -> None:
    """A bench stopped by SIGTERM (`kill`, a CI's time limit) exits as after Ctrl-C, through its `finally`
    blocks and `atexit`, instead of dying with its servers left running."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM does not cut the clean-up short
    sys.exit(128 + signum)


class Process:
    """A command in a session of its own, logging to var/bench-<name>.log; run from `cwd`, the package's
    directory unless told (`python -m dramatiq bench.jobs_dramatiq` finds this bench from there). Stopped at
    the bench's exit if still running: a bench ended by an error, Ctrl-C or SIGTERM leaves no redis-server or
    worker."""

    def __init__(self, args: list[str], name: str, env: dict | None = None, cwd: Path = PACKAGE):
        _exit_on_sigterm()
        VAR.mkdir(exist_ok=True)
        self.log = open(VAR / f"bench-{name}.log", "w")  # noqa: SIM115  # closed by stop()
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env or os.environ, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        atexit.register(self.stop)  # after an explicit stop() it does nothing

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.log.closed:  # stopped already: its group id may since belong to another process
            return
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


def setup_environment(
    system_port: int, counter_port: int, settings: str = "bench.settings", paths: Sequence[Path] = PACKAGE_PATHS
) -> None:
    """The environment of this process and every process it starts: Django under `settings` (importable
    from `paths`) on the system's Redis (`system_port`), the jobs' counters on the other Redis, a SQLite
    file of the bench's own; every process counts its round trips to the system's Redis (bench/roundtrips/)."""
    import importlib.util

    use_paths(paths)
    database = VAR / f"bench-run-{settings.partition('.')[0]}.sqlite3"  # one per project (the host's, the reference's)
    system_url = f"redis://127.0.0.1:{system_port}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE=settings,
        REDIS_URL=f"{system_url}/0",  # the project's settings
        TEST_REDIS_URL=f"{system_url}/0",  # the host's
        DRAMATIQ_NAMESPACE=NAMESPACE,
        BENCH_SYSTEM_URL=system_url,
        BENCH_COUNTER_URL=f"redis://127.0.0.1:{counter_port}/0",
        BENCH_CELERY_URL=f"{system_url}/1",
        BENCH_RQ_URL=f"{system_url}/2",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"sqlite:///{database}",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(ROUNDTRIPS), *map(str, paths)]),
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


def manage(*args: str, env: dict | None = None, cwd: Path = PACKAGE) -> str:
    """A Django command (`python -m django`) under the environment's settings."""
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=cwd,
        env=env or os.environ,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# --- what is measured of them --------------------------------------------------------------------


def clients() -> tuple[Any, Any]:
    """The system's Redis and the counters' (after setup_environment)."""
    import redis

    return (
        redis.Redis.from_url(f"{os.environ['BENCH_SYSTEM_URL']}/0"),
        redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"]),
    )


def reset() -> None:
    system, counter = clients()
    system.flushall()
    counter.flushall()


def round_trips(role: str) -> int:
    time.sleep(0.15)  # the counting threads flush every 50 ms
    _, counter = clients()
    return int(counter.get(f"bench:rt:{role}") or 0)


def wait_until(
    predicate: Callable[[], bool], worker: Process | Group, what: str, timeout: float = 600, poll_s: float = 0.002
) -> None:
    """Wait for `predicate`, asked every `poll_s` (the asking takes CPU from the systems measured: a bench
    timed by its own notes, not by when the wait ends, asks seldom)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or not worker.alive():
            raise RuntimeError(f"{what}: gave up; see var/bench-*.log")
        time.sleep(poll_s)


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
