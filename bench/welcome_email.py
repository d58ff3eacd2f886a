"""The real job: welcome emails sent by each system, side by side in one run.

    python3 bench/welcome_email.py [--emails 2000] [--default-rate-emails 200] [--repeats 3]
                                   [--databases sqlite,postgresql]
    python3 bench/run.py --only welcome     # the same, from the bench's runner (its counts)

Runs in the benches' virtualenv (var/bench-venv: Celery) and on redis-servers of its own (the
systems under test; the counters). For each database (a SQLite file; PostgreSQL at DATABASE_URL_PG,
default postgres://postgres@127.0.0.1:5432/bench_welcome, created if missing; `conn_max_age=600` for
every system) and each repeat, the systems run interleaved, each on `--emails` users created for it:

- this project: `send_welcome_email(user_id)` (accounts/tasks.py: the send-once row claimed, the
  email rendered from its templates in the user's language, sent through dramaturg.mail.EmailBackend,
  marked sent), `python -m dramatiq ... accounts.tasks --queues emails`, 2 processes x 8 threads,
  `dramatiq_queue_prefetch=64`, the project's broker and middleware; with `EMAIL_RATE_PER_S` raised out
  of the way, and (`--default-rate-emails` of them) at the project's default rate limit;
- the seed tutorial's Celery `@shared_task`: `User.objects.get` + `send_mail` (bench/welcome_jobs.py,
  Django's own SMTP backend, no idempotency record), acks early, results ignored, two worker processes
  of the threads pool x 8 (`--prefetch-multiplier 64`, no gossip/mingle/heartbeat), and the same with
  `--pool solo` x 2; the faster of the two is the ratios' peer;
- the same Celery task (threads 2 x 8) sending this project's email instead of the tutorial's one line
  (`accounts.emails.build_email`: the same templates, languages and headers): the email is like for like;
- stock Dramatiq: its RedisBroker and default middleware, the same plain actor, 2 processes x 8 threads.

The mail server is aiosmtpd in a process of its own (bench/welcome_sink.py), noting each message's
arrival, recipient and size. Per run: emails/s from the first email's arrival to the last; the worker
processes' CPU per email (from the enqueue to the last email; the workers booted and idle before), and
the mail server's (it shares the cores: a bigger email costs it more lines to read);
their Redis round trips per email (bench/roundtrips/); duplicates (a recipient mailed twice) and lost
(a user never mailed, after the others arrived and 2 s more). Always-failing jobs drained to the dead
letters, the package against stock Dramatiq: packages/django-dramaturg/bench/failing_drain.py.

Prints the table and the ratios, and writes them to bench/results/welcome_email.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup

import _setup  # noqa: E402

from bench.run import PATHS, manage, process  # noqa: E402

PROJECT, PROJECT_DEFAULT_RATE, CELERY_THREADS, CELERY_SOLO, CELERY_SAME_EMAIL, STOCK = (
    "this project, rate limit raised",
    "this project, default rate limit",
    "seed tutorial's Celery task, threads 2 x 8",
    "seed tutorial's Celery task, solo x 2",
    "the same Celery task sending this project's email, threads 2 x 8",
    "stock Dramatiq, plain send_mail actor",
)
CELERY_PEERS = (CELERY_THREADS, CELERY_SOLO)
DRAMATIQ_ARGS = ["-m", "dramatiq", "--path", ".", "--processes", "2", "--threads", "8"]
PREFETCH = {"dramatiq_queue_prefetch": "64"}
RAISED_RATE = "100000"
PG_URL = os.environ.get("DATABASE_URL_PG", "postgres://postgres@127.0.0.1:5432/bench_welcome")


def database_urls() -> dict[str, str]:
    return {
        "sqlite": f"sqlite:///{ROOT / 'var' / 'bench-welcome.sqlite3'}?conn_max_age=600",
        "postgresql": f"{PG_URL}?conn_max_age=600",
    }


# --- the systems ------------------------------------------------------------------------------------


class System:
    name: str
    env: dict[str, str] = {}

    def worker(self, env: dict[str, str]) -> _setup.Process | _setup.Group:
        raise NotImplementedError

    def send(self, user_ids: list[int]) -> None:
        raise NotImplementedError

    def config(self) -> str:
        raise NotImplementedError


class Project(System):
    name = PROJECT
    env = {**PREFETCH, "EMAIL_RATE_PER_S": RAISED_RATE}
    args = [*DRAMATIQ_ARGS, "django_dramatiq.setup", "accounts.tasks", "--queues", "emails"]

    def worker(self, env: dict[str, str]) -> _setup.Process | _setup.Group:
        return process([sys.executable, *self.args], "welcome-project", {**env, **self.env})

    def send(self, user_ids: list[int]) -> None:
        from accounts.tasks import send_welcome_email

        broker = send_welcome_email.broker
        for start in range(0, len(user_ids), 1000):
            broker.enqueue_many(send_welcome_email.message(uid) for uid in user_ids[start : start + 1000])  # type: ignore[attr-defined]

    def config(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        args = " ".join(self.args)
        return f"{env} python {args}  # accounts.tasks.send_welcome_email, the project's broker and middleware"


class ProjectDefaultRate(Project):
    name = PROJECT_DEFAULT_RATE
    env = dict(PREFETCH)


PEER_SETTINGS = {"DJANGO_SETTINGS_MODULE": "bench.settings_welcome_peer"}


class CeleryThreads(System):
    name = CELERY_THREADS
    env = PEER_SETTINGS
    pool = ["--pool", "threads", "--concurrency", "8"]
    task = "send_welcome_email"  # of bench/welcome_celery.py

    def args(self, n: int) -> list[str]:
        flags = "--prefetch-multiplier 64 --without-gossip --without-mingle --without-heartbeat --loglevel WARNING"
        queue = ["-Q", "welcome", "-n", f"welcome{n}@%h"]
        return ["-m", "celery", "-A", "bench.welcome_celery", "worker", *self.pool, *flags.split(), *queue]

    def worker(self, env: dict[str, str]) -> _setup.Process | _setup.Group:
        env = {**env, **self.env}
        return _setup.Group([process([sys.executable, *self.args(n)], f"welcome-celery{n}", env) for n in (1, 2)])

    def send(self, user_ids: list[int]) -> None:
        from bench import welcome_celery

        task = getattr(welcome_celery, self.task)
        for uid in user_ids:
            task.delay(uid)

    def config(self) -> str:
        return f"2 x: python {' '.join(self.args(1))}  # bench/welcome_celery.py: acks early, results ignored"


class CelerySolo(CeleryThreads):
    name = CELERY_SOLO
    pool = ["--pool", "solo"]


class CelerySameEmail(CeleryThreads):
    """The threads peer sending this project's email (bench/welcome_jobs.py): like for like on the email."""

    name = CELERY_SAME_EMAIL
    task = "send_project_welcome_email"

    def config(self) -> str:
        return super().config() + ", bench.send_project_welcome_email (this project's templates and languages)"


class Stock(System):
    name = STOCK
    env = {**PREFETCH, **PEER_SETTINGS}
    args = [*DRAMATIQ_ARGS, "bench.welcome_stock", "--queues", "welcome"]

    def worker(self, env: dict[str, str]) -> _setup.Process | _setup.Group:
        return process([sys.executable, *self.args], "welcome-stock", {**env, **self.env})

    def send(self, user_ids: list[int]) -> None:
        from dramatiq import Message
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=f"{os.environ['BENCH_SYSTEM_URL']}/3", middleware=[])
        broker.declare_queue("welcome")
        for uid in user_ids:
            broker.enqueue(
                Message(queue_name="welcome", actor_name="send_welcome_email", args=(uid,), kwargs={}, options={})
            )
        broker.close()

    def config(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{env} python {' '.join(self.args)}  # stock RedisBroker, default middleware, Django's SMTP backend"


# --- one run ----------------------------------------------------------------------------------------


def create_users(alias: str, tag: str, count: int) -> list[int]:
    """`count` users, each with the welcome delivery row a signup writes (bulk: no signals)."""
    from accounts.models import EmailDelivery, User

    users = User.objects.using(alias).bulk_create(
        User(email=f"{tag}-{i}@example.com", password="!", language="ko" if i % 4 == 0 else "en") for i in range(count)
    )
    EmailDelivery.objects.using(alias).bulk_create(EmailDelivery(user=user) for user in users)
    return [user.pk for user in users]


def mails(counter: Any) -> list[tuple[float, str, int]]:
    """(arrival, recipient, size in bytes) of each message the mail server took."""
    notes = (v.decode().split() for v in counter.lrange("bench:mail", 0, -1))
    return [(float(at), rcpt, int(size)) for at, rcpt, size in notes]


def send_run(
    system: System, sink: _setup.Process, alias: str, database_url: str, count: int, tag: str
) -> dict[str, float]:
    _setup.reset()
    _, counter = _setup.clients()
    user_ids = create_users(alias, tag, count)
    expected = {f"{tag}-{i}@example.com" for i in range(count)}
    worker = system.worker({**os.environ, "DATABASE_URL": database_url})
    try:
        _setup.booted(worker)
        cpu, trips = _setup.processes_cpu_s(worker), _setup.round_trips("worker")
        sink_cpu = _setup.processes_cpu_s(sink)
        producer = _setup.round_trips("producer")
        system.send(user_ids)
        producer = _setup.round_trips("producer") - producer
        # Timed by the mail server's notes of arrival: asked seldom, the wait takes little of the shared cores.
        _setup.wait_until(lambda: counter.llen("bench:mail") >= count, worker, f"{system.name} send", 900, 0.05)
        cpu = _setup.processes_cpu_s(worker) - cpu
        sink_cpu = _setup.processes_cpu_s(sink) - sink_cpu
        trips = _setup.round_trips("worker") - trips
        time.sleep(2)  # a late duplicate would arrive now
        received = mails(counter)
    finally:
        worker.stop()
    times = sorted(at for at, _, _ in received)
    copies = Counter(rcpt for _, rcpt, _ in received)
    return {
        "emails_s": (len(times) - 1) / (times[-1] - times[0]),
        "worker_cpu_ms_per_email": cpu * 1000 / count,
        "mail_server_cpu_ms_per_email": sink_cpu * 1000 / count,
        "bytes_per_email": statistics.mean(size for _, _, size in received),
        "worker_round_trips_per_email": trips / count,
        "producer_round_trips_per_email": producer / count,
        "duplicates": sum(n - 1 for n in copies.values()),
        "lost": len(expected - copies.keys()),
    }


def spread(values: list[float], digits: int = 0) -> str:
    median = statistics.median(values)
    if min(values) == max(values):
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def measure(args: argparse.Namespace, sink: _setup.Process) -> dict[str, Any]:
    """Every system on every database, interleaved. Figures per (database, system)."""
    from django.conf import settings
    from django.db import connections

    urls = {db: url for db, url in database_urls().items() if db in args.databases}
    for db, url in urls.items():
        manage("ensure_database", env={**os.environ, "DATABASE_URL": url})
        manage("migrate", env={**os.environ, "DATABASE_URL": url})
        import environ

        settings.DATABASES[db] = {**environ.Env.db_url_config(url), "CONN_MAX_AGE": 0}
        if db == "sqlite":
            settings.DATABASES[db] = {
                **settings.DATABASES["default"],
                "NAME": str(ROOT / "var" / "bench-welcome.sqlite3"),
            }
    connections.__dict__.pop("settings", None)  # the aliases just added

    systems: list[System] = [Project(), ProjectDefaultRate(), CeleryThreads(), CelerySolo(), CelerySameEmail(), Stock()]
    results: dict[str, Any] = {
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores",
        "load_average": [os.getloadavg()[0]],
        "configs": {s.name: s.config() for s in systems},
        "figures": {db: {s.name: [] for s in systems} for db in urls},
    }
    for repeat in range(args.repeats):
        for db, url in urls.items():
            for system in systems[:: 1 if repeat % 2 == 0 else -1]:
                count = args.default_rate_emails if isinstance(system, ProjectDefaultRate) else args.emails
                tag = f"r{repeat}-{type(system).__name__.lower()}-{int(time.time() * 1000)}"
                figures = send_run(system, sink, db, url, count, tag)
                results["figures"][db][system.name].append(figures)
                print(f"  {db}, {system.name}: {figures}", flush=True)
        results["load_average"].append(os.getloadavg()[0])
    return results


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    loads = results["load_average"]
    lines = [
        f"Measured {results['at']} on {results['machine']} (load average {min(loads):.1f}–{max(loads):.1f}); "
        f"median (min–max) of {args.repeats} interleaved runs. Command: `{results['command']}`.",
        "",
    ]
    for db, by_system in results["figures"].items():
        lines += [
            f"**{db}**, {args.emails:,} welcome emails per system "
            f"({args.default_rate_emails} at the default rate limit):",
            "",
            "| system | emails/s | worker CPU per email (ms) | mail server's CPU per email (ms) | bytes per email | "
            "worker's Redis round trips per email | producer's per email | duplicates | lost |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, rows in by_system.items():
            lines.append(
                f"| {name} | {spread([r['emails_s'] for r in rows], 1)} | "
                f"{spread([r['worker_cpu_ms_per_email'] for r in rows], 2)} | "
                f"{spread([r['mail_server_cpu_ms_per_email'] for r in rows], 2)} | "
                f"{spread([r['bytes_per_email'] for r in rows])} | "
                f"{spread([r['worker_round_trips_per_email'] for r in rows], 2)} | "
                f"{spread([r['producer_round_trips_per_email'] for r in rows], 3)} | "
                f"{sum(r['duplicates'] for r in rows)} | {sum(r['lost'] for r in rows)} |"
            )
        celery = max(CELERY_PEERS, key=lambda name: median(by_system[name], "emails_s"))
        ours, stock = by_system[PROJECT], by_system[STOCK]
        pairs = [a["emails_s"] / b["emails_s"] for a, b in zip(ours, by_system[celery], strict=True)]
        results.setdefault("ratios", {})[db] = {
            "emails_s_vs_best_celery": statistics.median(pairs),
            "best_celery": celery,
            "emails_s_vs_same_email_celery": statistics.median(
                a["emails_s"] / b["emails_s"] for a, b in zip(ours, by_system[CELERY_SAME_EMAIL], strict=True)
            ),
            "emails_s_vs_stock_dramatiq": statistics.median(
                a["emails_s"] / b["emails_s"] for a, b in zip(ours, stock, strict=True)
            ),
            "round_trips_per_email_default_rate": median(
                by_system[PROJECT_DEFAULT_RATE], "worker_round_trips_per_email"
            ),
        }
        ratio = results["ratios"][db]
        lines += [
            "",
            f"{db}: emails/s over the faster Celery ({celery}), pair by pair: {spread(pairs, 2)}×; "
            f"over the Celery task sending this project's email: {ratio['emails_s_vs_same_email_celery']:.2f}×; "
            "over stock Dramatiq: "
            f"{ratio['emails_s_vs_stock_dramatiq']:.2f}×; the project's worker round trips per email at the default "
            f"rate limit: {ratio['round_trips_per_email_default_rate']:.2f}",
            "",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--default-rate-emails", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    args.databases = args.databases.split(",")
    _setup.ensure_bench_venv()
    servers = [_setup.RedisServer(_setup.free_port(6390), "system")]
    servers.append(_setup.RedisServer(_setup.free_port(6391), "counter"))
    sink_port = _setup.free_port(2525)
    sink = None
    try:
        _setup.setup_environment(servers[0].port, servers[1].port, "project.settings", PATHS)
        os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{sink_port}"
        os.environ["DEBUG"] = "0"  # as in production, for every system (DEBUG keeps every query in memory)
        os.environ.pop("EMAIL_RATE_PER_S", None)
        sink = process([sys.executable, "bench/welcome_sink.py", str(sink_port)], "welcome-sink")
        manage("migrate")
        import django

        django.setup()
        results = measure(args, sink)
    finally:
        if sink is not None:
            sink.stop()
        for server in servers:
            server.stop()
    results["command"] = "python3 bench/welcome_email.py " + " ".join(sys.argv[1:])
    text = "\n".join(report(results, args)) + "\n"
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "welcome_email.md").write_text(text)
    (ROOT / "bench" / "results" / "welcome_email.json").write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
