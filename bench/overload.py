"""Overload sheds, it does not time out: 200 concurrent signups with the real PBKDF2 hasher against gunicorn.

    .venv/bin/python bench/overload.py [--clients 200] [--seconds 30] [--timeout 30] [--repeats 1]

The site runs as `make serve` runs it (gunicorn, gunicorn.conf.py: gthread, 2 x cores + 1 processes x 16
threads; DEBUG off; project.settings, so Django's PBKDF2 hasher, ~250 ms of CPU per signup) on a SQLite
file and a redis-server of its own, with the signup throttle out of the way. `--clients` clients each post
`POST /api/signup/` in a loop for `--seconds` (a new connection each, the next request as soon as the last
is answered, or, after a 503, once its `Retry-After` has passed, as the header asks), each request given up
after `--timeout` s.

Three modes, interleaved: the project's defaults (signup's hash bounded: `SIGNUP_HASH_SLOTS=1` per process,
`OVERLOAD_WAIT_S=0.2`, then 503 with `Retry-After`); the same with 4 threads per process (`WEB_THREADS=4`,
gunicorn.conf.py's default before: the 503s queued behind each other); and the hash unbounded
(`SIGNUP_HASH_SLOTS=1000`, as before dramaturg.bounded). Per mode: answers by kind (202, 503 with
Retry-After, client timeouts, other), signups/s, how long the answers took (p50, p99, max) and the share
answered within 1 s and 5 s, and the users the database holds afterwards (each 202 is one; a 503 writes
nothing). Writes bench/results/overload.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup

from _setup import RedisServer, free_port, percentile  # noqa: E402

import bench.run as run  # noqa: E402

MODES = {
    "bounded (the defaults: 1 hash per process, 0.2 s wait, 16 threads)": {},
    "bounded, 4 threads per process (before)": {"WEB_THREADS": "4"},
    "unbounded (before)": {"SIGNUP_HASH_SLOTS": "1000"},
}
KINDS = ("202", "503", "timeout", "other")


async def _post(port: int, body: bytes) -> tuple[int, dict[str, str]]:
    """One signup on a new connection: its status and headers (the body is read and dropped)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /api/signup/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        await reader.read()
        return status, headers
    finally:
        writer.close()


async def _load(port: int, clients: int, seconds: float, timeout: float, tag: str) -> list[tuple[str, float]]:
    """(kind, seconds to the answer) of every request `clients` looping clients made in `seconds`."""
    answers: list[tuple[str, float]] = []
    end = time.monotonic() + seconds
    numbers = iter(range(10**9))

    async def client(n: int) -> None:
        while time.monotonic() < end:
            body = json.dumps(
                {"email": f"{tag}-{n}-{next(numbers)}@example.com", "password": "correct-horse-battery-staple"}
            ).encode()
            started = time.perf_counter()
            retry_after = 0.0
            try:
                status, headers = await asyncio.wait_for(_post(port, body), timeout)
                kind = {202: "202", 503: "503" if headers.get("retry-after") else "other"}.get(status, "other")
                retry_after = float(headers.get("retry-after") or 0) if status == 503 else 0.0
            except TimeoutError:
                kind = "timeout"
            except (OSError, ValueError, IndexError):
                kind = "other"
            answers.append((kind, time.perf_counter() - started))
            await asyncio.sleep(min(retry_after, max(0.0, end - time.monotonic())))

    await asyncio.gather(*(client(n) for n in range(clients)))
    return answers


def one_run(mode: str, clients: int, seconds: float, timeout: float) -> dict:
    db = ROOT / "var" / "bench-overload.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    port = free_port()
    env = run.web_env(
        f"sqlite:///{db}?conn_max_age=600",
        port,
        "project.settings",  # Django's PBKDF2, as in production
        SECRET_KEY="bench-overload-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        **MODES[mode],
    )
    run.manage("migrate", env=env)
    web = run.process([sys.executable, *run.GUNICORN], "web-overload", env)
    try:
        run.wait_http(port, web)
        asyncio.run(_load(port, 4, 2, timeout, "warm"))
        started = time.monotonic()
        answers = asyncio.run(_load(port, clients, seconds, timeout, "load"))
        elapsed = time.monotonic() - started
    finally:
        web.stop()
    with sqlite3.connect(db) as conn:
        users = conn.execute("SELECT count(*) FROM accounts_user WHERE email LIKE 'load-%'").fetchone()[0]
    times = [s for _, s in answers]
    by_kind = {k: [s for kind, s in answers if kind == k] for k in KINDS}
    return {
        "requests": len(answers),
        **{k: len(v) for k, v in by_kind.items()},
        "signups_s": len(by_kind["202"]) / elapsed,
        "users_created": users,
        "p50_s": percentile(times, 50),
        "p99_s": percentile(times, 99),
        "max_s": max(times),
        "p99_503_s": percentile(by_kind["503"], 99) if by_kind["503"] else None,
        "within_1s": sum(s <= 1 for s in times) / len(times),
        "within_5s": sum(s <= 5 for s in times) / len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--timeout", type=float, default=30, help="seconds a client waits for an answer")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    redis_server = RedisServer(free_port(), "overload")
    os.environ.update(BENCH_SYSTEM_URL=f"redis://127.0.0.1:{redis_server.port}", LOG_LEVEL="WARNING")
    load_at_start = os.getloadavg()[0]
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    try:
        for _ in range(args.repeats):
            for mode in MODES:
                results[mode].append(one_run(mode, args.clients, args.seconds, args.timeout))
                print(mode, results[mode][-1], flush=True)
    finally:
        redis_server.stop()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores (load average "
        f"{load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). Command: `.venv/bin/python "
        f"bench/overload.py --clients {args.clients} --seconds {args.seconds:g} --timeout {args.timeout:g}`"
        + (f" --repeats {args.repeats}" if args.repeats > 1 else "")
        + ".",
        "",
        f"{args.clients} clients signing up through `POST /api/signup/` for {args.seconds:g} s against `make serve` "
        f"(gunicorn, gunicorn.conf.py), Django's PBKDF2 hasher, each request given up after {args.timeout:g} s, "
        "a 503's `Retry-After` waited out before the client's next request:",
        "",
        "| mode | requests | 202 | 503 + Retry-After | client timeouts | other | signups/s | users created "
        "| answered p50 / p99 / max (s) | 503 p99 (s) | within 1 s | within 5 s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, runs in results.items():
        for r in runs:
            p99_503 = "—" if r["p99_503_s"] is None else f"{r['p99_503_s']:.2f}"
            lines.append(
                f"| {mode} | {r['requests']} | {r['202']} | {r['503']} | {r['timeout']} | {r['other']} "
                f"| {r['signups_s']:.1f} | {r['users_created']} | {r['p50_s']:.2f} / {r['p99_s']:.2f} / "
                f"{r['max_s']:.2f} | {p99_503} | {r['within_1s']:.0%} | {r['within_5s']:.0%} |"
            )
    (run.RESULTS / "overload.md").write_text("\n".join(lines) + "\n")
    (run.RESULTS / "overload.json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
