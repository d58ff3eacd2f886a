"""The reference project's benchmarks in one run: its web tier under load, signups with the welcome email
sent in the request vs through the outbox, and the welcome email itself against Celery and stock Dramatiq.

    python3 bench/run.py [--repeats 3] [--quick] [--only web,signup,welcome] [--large]

The package's own (job drain and latency against stock Dramatiq, Celery and RQ, the console, the email
backends, Redis CPU): packages/django-dramaturg/bench/run.py and its neighbours. This one shares their
helpers (packages/django-dramaturg/bench/_setup.py, imported by path) and their virtualenv, var/bench-venv
(requirements.txt and packages/django-dramaturg/bench/requirements.txt: Celery for the welcome email).

It starts two redis-servers of its own (ports 6390 and 6391, or free ones): the web tier's, and the counters'.
--quick: one run, the welcome email at smaller counts and on SQLite only: bench/results/quick.{json,md}.
Otherwise: bench/results/results.{json,md}. --only: the parts named, merged into the last results.
--large adds bench/reports.py (1,000,000 users).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup

import _setup  # noqa: E402
from _setup import Process, fmt, free_port, percentile, spread  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PATHS = [ROOT, *_setup.PACKAGE_PATHS[:2]]  # the project; dramaturg from its source; the harness
ALL_PARTS = ["web", "signup", "welcome"]
COUNTS = {"web_clients": 200, "web_seconds": 30}  # --quick too


def manage(*args: str, env: dict | None = None) -> str:
    """A Django command of the project's, run from its directory."""
    return _setup.manage(*args, env=env, cwd=ROOT)


def process(args: list[str], name: str, env: dict | None = None) -> Process:
    """A process of the project's, run from its directory (`bench.*` is this bench there)."""
    return Process(args, name, env, ROOT)


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
        web = process([sys.executable, *GUNICORN], f"web-{database}", env)
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
                web = process([sys.executable, *GUNICORN], f"web-{mode}", env)
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


def main() -> None:
    args = _setup.runner_arguments(__doc__ or "", ALL_PARTS)
    _setup.ensure_bench_venv()
    counts = COUNTS
    repeats = 1 if args.quick else args.repeats
    only = args.only.split(",") if args.only else ALL_PARTS
    results: dict = {
        "machine": f"{os.cpu_count()} cores",
        "load_average_at_start": os.getloadavg()[0],
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    servers = [_setup.RedisServer(free_port(6390), "system"), _setup.RedisServer(free_port(6391), "counter")]
    try:
        _setup.setup_environment(servers[0].port, servers[1].port, "project.settings", PATHS)
        if "web" in only:
            results["web_load"] = {
                db: web_load(db, counts["web_clients"], counts["web_seconds"]) for db in ("sqlite", "postgresql")
            }
            print("web:", results["web_load"], flush=True)
        if "signup" in only:
            results["signup_modes"] = signup_modes(repeats)
    finally:
        for server in servers:
            server.stop()
    if "welcome" in only:  # the real job, on redis-servers and a mail server of its own (bench/welcome_email.py)
        quick = ["--emails", "500", "--default-rate-emails", "60", "--repeats", "1", "--databases", "sqlite"]
        welcome = [sys.executable, "bench/welcome_email.py", *(quick if args.quick else [])]
        subprocess.run(welcome, cwd=ROOT, check=True)
        figures = json.loads((RESULTS / "welcome_email.json").read_text())
        results["welcome_email"] = {"ratios": figures["ratios"], "table": (RESULTS / "welcome_email.md").read_text()}
    results.update(command="python3 bench/run.py" + (" --quick" if args.quick else ""), counts=counts, repeats=repeats)
    results["load_average_at_end"] = os.getloadavg()[0]
    if args.large:
        reports = [sys.executable, "bench/reports.py"]
        results["reports_1m"] = subprocess.run(reports, cwd=ROOT, text=True, capture_output=True).stdout
    _setup.write_results(RESULTS, "quick" if args.quick else "results", results, table, merge=bool(args.only))


def table(results: dict) -> list[str]:
    lines = [
        f"Measured {results['at']} on {results['machine']} (load average {results['load_average_at_start']:.1f} "
        f"at the start, {results['load_average_at_end']:.1f} at the end: a shared machine). "
        f"Command: `{results['command']}`.",
    ]
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
    if "welcome_email" in results:
        lines += ["", results["welcome_email"]["table"]]
    return lines


if __name__ == "__main__":
    main()
