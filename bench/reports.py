"""Daily report over a large seeded data set, with 1 and with 2 worker processes.

    .venv/bin/python bench/reports.py [--users 1000000] [--small 100000]

Seeds users, logins and email deliveries (manage.py seed_demo) into a SQLite
file of its own, then times `run_report daily` end to end with real
rundramatiq processes, and reads each worker process's peak resident memory
(VmHWM). The small data set shows whether memory grows with the data.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup

from _setup import clear_namespace  # noqa: E402

NAMESPACE = "bench-reports"


def env_for(users: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DRAMATIQ_NAMESPACE=NAMESPACE,
        LOG_LEVEL="INFO",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        DATABASE_URL=f"sqlite:///{ROOT / 'var' / f'bench-reports-{users}.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(users: int, processes: int) -> dict:
    env = env_for(users)
    os.environ.update({k: env[k] for k in ("REDIS_URL", "DRAMATIQ_NAMESPACE")})
    clear_namespace(NAMESPACE)
    log = open(ROOT / "var" / f"bench-worker-{users}-{processes}.log", "w")  # noqa: SIM115  # the worker's, for its life
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "rundramatiq",
            "--queues",
            "reports",
            "--processes",
            str(processes),
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        while "ready for action" not in (ROOT / "var" / f"bench-worker-{users}-{processes}.log").read_text():
            time.sleep(0.2)
        started = time.perf_counter()
        out = manage(env, "run_report", "daily", "--force", "--wait", "--date", report_day(env))
        seconds = time.perf_counter() - started
        peaks = [peak_rss_mb(pid) for pid in children(worker.pid)]
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
    chunks = int(out.split(" chunks")[0].rsplit(" ", 1)[-1])
    return {
        "users": users,
        "processes": processes,
        "seconds": seconds,
        "rows_per_s": users / seconds,
        "chunks": chunks,
        "peak_mb": max(peaks) if peaks else 0.0,
        "summary": out.strip().splitlines()[-4:],
    }


def report_day(env: dict[str, str]) -> str:
    code = "from reports.periods import today; from datetime import timedelta; print(today() - timedelta(days=5))"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def seed(users: int) -> None:
    env = env_for(users)
    db = ROOT / "var" / f"bench-reports-{users}.sqlite3"
    (ROOT / "var").mkdir(exist_ok=True)
    if db.exists():
        return
    manage(env, "ensure_redis", "--url", env["REDIS_URL"])
    manage(env, "migrate")
    started = time.perf_counter()
    print(
        manage(env, "seed_demo", "--users", str(users), "--days", "28").strip(),
        f"(wall {time.perf_counter() - started:.0f}s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    for users in (args.small, args.users):
        seed(users)
        for processes in (1, 2):
            result = run(users, processes)
            rows.append(result)
            print(
                f"{users:>9,} users  {processes} proc  {result['seconds']:7.1f} s  "
                f"{result['rows_per_s']:>9,.0f} users/s  {result['chunks']:4d} chunks  "
                f"peak worker RSS {result['peak_mb']:6.1f} MB",
                flush=True,
            )
    print("\n" + rows[-1]["summary"][0] if rows else "")
    for line in rows[-1]["summary"][1:]:
        print(line)


if __name__ == "__main__":
    main()
