"""Chaos soak: "never lost, never sent twice, every failure visible", under a seeded storm of faults.

    .venv/bin/python bench/chaos.py --minutes 2 --seed 7

Starts, each in its own process group and all on loopback: a redis-server of its
own (AOF, appendfsync always), the web server (`runserver --noreload`), worker
processes (`rundramatiq`), the outbox relay, the scheduler (`runperiodiq`), and
in this process a real SMTP server (tests/smtp_sink.py) whose recorded messages
are the ground truth. The database is a SQLite file of the run (or, when
DATABASE_URL points at PostgreSQL, a database named after it plus `_chaos`),
migrated first.

For --minutes, signups arrive at a steady rate over HTTP while a schedule drawn
from --seed SIGKILLs and SIGTERMs workers, restarts Redis (SIGTERM or SIGKILL,
then again on the same port and directory), stops and slows the SMTP server,
kills and restarts the web server, the relay and the scheduler, takes the
database away (SQLite: another process holds the write lock, from a few seconds
to longer than the busy timeout; PostgreSQL started by the soak, --own-postgres:
a fast shutdown and a start again on the same port), and slips in a few poison
messages; `reconcile_deliveries` runs every few seconds. A signup that meets a
dead web server, or a 503 while the database is away, is retried later, as a
client would: not accepted, never counted lost.

Then everything is brought back, the soak waits (bounded) for quiet, and checks:
every committed signup (a User row for the email sent) got exactly one welcome
email; duplicates are counted apart when a worker died within moments of the
first copy being accepted (the window README documents) and fail otherwise; no
5xx and no connection error while the web server was up; nothing stuck (outbox,
queues, ack sets, delivery rows); dead letters exactly the injected poison, each
with a reason; no process died that the soak did not kill. It prints a table and
the command that replays the run, and exits 1 if any check fails.
Logs, the schedule, the events and summary.json go to the run directory it prints.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import itertools
import json
import logging
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup
sys.path.insert(0, str(ROOT / "packages" / "django-dramaturg" / "tests"))  # harness.*, the shared test parts

from _setup import free_port, redis_answers, redis_command  # noqa: E402

from bench.chaos_processes import Proc, StartFailed, kill_all, manage, port_answers, run_once  # noqa: E402
from bench.chaos_smtp import AttributingHandler  # noqa: E402
from harness.smtp_sink import SmtpSink  # noqa: E402

NAMESPACE = "chaos"
PASSWORD = "correct-horse-battery-staple"
EMAIL_DOMAIN = "chaos.example.com"

# What the schedule draws from, and how often.
FAULT_WEIGHTS = {
    "worker SIGKILL": 4,
    "worker SIGTERM": 2,
    "redis SIGTERM restart": 1,
    "redis SIGKILL restart": 1,
    "smtp stopped": 2,
    "smtp slow": 2,
    # The server stores the message, then answers the end of DATA after EMAIL_TIMEOUT_S (within EMAIL_DATA_TIMEOUT_S).
    "smtp slow final reply": 2,
    # Jobs fail (SMTP down) while Redis is down: their retries must not be lost.
    "redis SIGKILL while smtp stopped": 2,
    "web SIGKILL restart": 1,
    "relay SIGKILL": 1,
    "scheduler SIGKILL": 0.5,
    # SQLite: the write lock held by another process; PostgreSQL (--own-postgres): a restart.
    "database outage": 1.5,
}
SMTP_SLOW_MAX_S = 3.0  # below EMAIL_TIMEOUT_S, so a slow server is slow, not a timeout
EMAIL_TIMEOUT_S, EMAIL_DATA_TIMEOUT_S = 5, 20
SMTP_FINAL_REPLY_MAX_S = 9.0  # the final reply comes after EMAIL_TIMEOUT_S, well within EMAIL_DATA_TIMEOUT_S
WORKER_SHUTDOWN_TIMEOUT_MS = 5000
# The soak's processes wait this long for SQLite's write lock; a "database outage" holds it 1-8 s, so
# some outlast it (writers give up: 503 at signup, a job retried, a relay attempt failed) and some do not.
SQLITE_BUSY_TIMEOUT_S = 5
# A duplicate counts as "in the window" if the worker that sent the copy before it died this close to
# that copy's acceptance: killed while a slow server was still taking DATA (it accepts afterwards), or
# within moments after (SIGKILL) or while it waited for a slow final reply (the server had stored the message),
# or within its shutdown timeout (SIGTERM: a job still running is abandoned).
WINDOW_BEFORE_S = SMTP_SLOW_MAX_S + 1.0
WINDOW_AFTER_KILL_S = SMTP_FINAL_REPLY_MAX_S + 2.0
WINDOW_AFTER_EXIT_S = WORKER_SHUTDOWN_TIMEOUT_MS / 1000 + SMTP_FINAL_REPLY_MAX_S + 2.0


def child_environment(redis_url: str, database_url: str, smtp_url: str) -> dict[str, str]:
    """The project's settings for a fast recovery: dead workers noticed in 3 s, short backoffs,
    a retry budget longer than any outage the schedule makes, no throttle on the soak's signups."""
    env = dict(os.environ)
    for name in ("EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.chaos_settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DRAMATIQ_NAMESPACE=NAMESPACE,
        EMAIL_URL=smtp_url,
        EMAIL_TIMEOUT_S=str(EMAIL_TIMEOUT_S),
        EMAIL_DATA_TIMEOUT_S=str(EMAIL_DATA_TIMEOUT_S),
        DRAMATIQ_HEARTBEAT_TIMEOUT_MS="3000",
        DRAMATIQ_MAINTENANCE_CHANCE="1000000",
        DRAMATIQ_MIN_BACKOFF_MS="200",
        DRAMATIQ_MAX_BACKOFF_MS="2000",
        DRAMATIQ_MAX_RETRIES="20",
        EMAIL_MAX_RETRIES="30",
        EMAIL_TIME_LIMIT_MS=str((EMAIL_DATA_TIMEOUT_S + 10) * 1000),
        EMAIL_SEND_LEASE_S="3",
        # No answer after the hand-over (the SMTP server stopped mid-reply): the rule's one more send within the run.
        EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S="5",
        EMAIL_RATE_PER_S="100",
        SIGNUP_RATE_PER_MINUTE="1000000",
        SEND_ONCE_RECONCILE_AFTER_S="15",
        DEBUG="1",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        dramatiq_worker_timeout="100",  # as in the Procfile
    )
    return env


# Holds SQLite's write lock (argv[1] the file) from its "locked" line until its stdin closes.
SQLITE_LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
db.execute("COMMIT")
"""


def database_url_for(run_dir: Path) -> str:
    """A SQLite file of the run, or (DATABASE_URL on PostgreSQL) `<name>_chaos` on that server, created if missing."""
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{run_dir / 'chaos.sqlite3'}?timeout={SQLITE_BUSY_TIMEOUT_S}"
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(given)
    name = parts.path.lstrip("/") + "_chaos"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


OVERLOADED_LABEL = "503 overloaded, shed before the work (retried)"
# Log lines worth counting, for the evidence under the table: (file prefix, label, needle).
LOG_SIGNALS = [
    ("worker", "middleware failed after a job (retry lost?)", "Unexpected failure in after_process_message"),
    ("worker", "ack/nack retried on a connection error", "Failed to post_process_message"),
    ("worker", "retries exhausted", "Retries exceeded for message"),
    ("worker", "time limit exceeded", "TimeLimitExceeded"),
    ("worker", "database locked", "database is locked"),
    ("web", "500 Internal Server Error", "Internal Server Error"),
    ("web", "database locked", "database is locked"),
    ("web", "503 while the database was unavailable", "Database unavailable for"),
    ("web", OVERLOADED_LABEL, "Overloaded ("),
    ("relay", "relay attempts failed", "Outbox relay attempt"),
    ("relay", "relay recovered", "Outbox relay recovered"),
]


# --- the schedule -----------------------------------------------------------------


@dataclass
class Fault:
    at: float  # seconds after the chaos phase starts
    kind: str
    target: int  # which worker
    pause: float  # seconds down (or slow)
    extra: float  # the SMTP delay for "smtp slow" (and "smtp slow final reply")

    def describe(self) -> str:
        if self.kind in ("smtp slow", "smtp slow final reply"):
            return f"{self.kind} {self.extra:.1f}s per message for {self.pause:.1f}s"
        if self.kind.startswith("worker"):
            return f"{self.kind} worker{self.target} (back after {self.pause:.1f}s)"
        if self.kind == "redis SIGKILL while smtp stopped":
            return f"{self.kind} (redis down {self.pause:.1f}s inside an smtp outage of {self.pause + 2:.1f}s)"
        if self.kind == "poison":
            return "poison: one unknown actor, one bad arguments, one undecodable body"
        return f"{self.kind} (down {self.pause:.1f}s)"


def make_schedule(seed: int, seconds: float, workers: int) -> list[Fault]:
    """The same seed gives the same faults in the same order at the same offsets."""
    rng = random.Random(seed)
    kinds, weights = list(FAULT_WEIGHTS), list(FAULT_WEIGHTS.values())
    faults = []
    at = rng.uniform(2.0, 4.0)
    while at < seconds:
        kind = rng.choices(kinds, weights)[0]
        target, pause, extra = rng.randrange(workers), rng.uniform(0.5, 1.0), rng.uniform(0.5, SMTP_SLOW_MAX_S)
        if kind == "smtp stopped":
            pause = rng.uniform(1.0, 6.0)
        elif kind == "database outage":
            pause = rng.uniform(1.0, 8.0)
        elif kind == "smtp slow":
            pause = rng.uniform(2.0, 8.0)
        elif kind == "smtp slow final reply":
            pause, extra = rng.uniform(2.0, 8.0), rng.uniform(EMAIL_TIMEOUT_S + 1.0, SMTP_FINAL_REPLY_MAX_S)
        elif kind.startswith(("redis", "web")):  # for the compound fault: how long Redis is down
            pause = rng.uniform(0.5, 4.0)
        else:
            pause = rng.uniform(0.0, 2.0)
        faults.append(Fault(round(at, 2), kind, target, round(pause, 2), round(extra, 2)))
        at += rng.uniform(1.0, 4.0)
    faults.append(Fault(round(rng.uniform(0.2, 0.6) * seconds, 2), "poison", 0, 0.0, 0.0))
    return sorted(faults, key=lambda f: f.at)


# --- bookkeeping -------------------------------------------------------------------


class Events:
    """What happened when, in memory and in events.log."""

    def __init__(self, path: Path, t0: float):
        self.t0 = t0
        self.path = path
        self.lock = threading.Lock()
        self.items: list[tuple[float, str, str]] = []

    def record(self, kind: str, detail: str = "") -> float:
        now = time.time()
        with self.lock:
            self.items.append((now, kind, detail))
            with open(self.path, "a") as f:
                f.write(f"{now - self.t0:9.3f}  {kind:28} {detail}\n")
        return now

    def of(self, *kinds: str) -> list[tuple[float, str, str]]:
        with self.lock:
            return [e for e in self.items if e[1] in kinds]

    def nearest(self, t: float) -> str:
        with self.lock:
            if not self.items:
                return "-"
            when, kind, detail = min(self.items, key=lambda e: abs(e[0] - t))
        return f"{kind} {detail} at {when - t:+.2f}s"


@dataclass
class Attempt:
    email: str
    number: int
    start: float
    end: float
    outcome: str  # accepted / exists / unavailable (503 in a database outage) / 4xx / 5xx / conn
    status: int | None = None
    detail: str = ""
    twin: bool = False


def _gist(raw: bytes) -> str:
    """One line of a response body: the <title> of an HTML error page (Django's names the exception)."""
    text = raw.decode(errors="replace")
    if "<title>" in text:
        text = text.split("<title>", 1)[1].split("</title>", 1)[0]
    return " ".join(text.split())[:200]


def _describe(body: bytes | str | None) -> str:
    if body is None:
        return "(body gone)"
    try:
        data = json.loads(body)
    except ValueError:
        return str(body[:80])
    options = data.get("options") or {}
    return (
        f"{data.get('actor_name')}{tuple(data.get('args') or ())} id {data.get('message_id')} "
        f"retries {options.get('retries', 0)}"
    )


# --- the soak ----------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.seed: int = args.seed
        self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-seed{self.seed}-{uuid.uuid4().hex[:4]}"
        self.run_dir = Path(args.run_dir or ROOT / "var" / "chaos" / self.run_id).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self.events = Events(self.run_dir / "events.log", self.t0)
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.retries: deque[tuple[float, str, int, bool]] = deque()
        self.emails: list[str] = []
        self.in_flight = 0
        # [down, up] intervals of the web server, Redis and the database, up infinite while down.
        self.down: dict[str, list[list[float]]] = {"web": [], "redis": [], "database": []}
        self.database_lock = threading.Lock()  # one database outage at a time
        self.sqlite_lock: subprocess.Popen | None = None  # the process holding SQLite's write lock
        self.postgres: Any = None  # harness.postgres_server.PostgresServer with --own-postgres
        # (time, how, incarnation, seconds after an acceptance it still explains): for the duplicate window
        self.worker_deaths: list[tuple[float, str, str, float]] = []
        self.workers: list[Proc] = []
        self.fault_counts: Counter[str] = Counter()
        self.reconciler: Counter[str] = Counter()
        self.unexpected_exits: list[str] = []
        self.poison: dict[str, str] = {}  # message id or redis id -> kind
        self.smtp_lock = threading.Lock()
        self.stop_chaos = threading.Event()
        self.stop_background = threading.Event()
        self.threads: list[threading.Thread] = []

    # ----- setup
    def log(self, text: str) -> None:
        print(f"[{time.time() - self.t0:7.1f}s] {text}", flush=True)

    def setup(self) -> None:
        self.smtp = SmtpSink()
        self.smtp_handler = AttributingHandler(self.smtp.port, lambda: {w.pid: w.tag for w in self.workers if w.pid})
        self.smtp.handler = self.smtp_handler
        self.smtp.start()
        self.redis_port = free_port()
        redis_dir = self.run_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.redis = Proc(
            "redis",
            redis_command(
                self.redis_port,
                redis_dir,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--logfile",
                str(redis_dir / "redis.log"),
            ),
            {**os.environ},
            self.run_dir,
            partial(redis_answers, self.redis_port),
        ).start()
        if self.args.own_postgres:
            from harness.postgres_server import PostgresServer

            self.postgres = PostgresServer().start()
            self.database_url = self.postgres.create_database("chaos")
        else:
            self.database_url = database_url_for(self.run_dir)
        self.env = child_environment(self.redis_url, self.database_url, self.smtp.url)
        os.environ.update(self.env)

        import django
        from django.core.management import call_command

        django.setup()
        logging.getLogger().setLevel(logging.WARNING)  # this process's console is for the soak's own lines
        call_command("migrate", verbosity=0)
        self.log(f"database {self.database_url}, redis {self.redis_url}, smtp {self.smtp.url}")

        self.web_port = free_port()
        self.web = Proc(
            "web",
            manage("runserver", f"127.0.0.1:{self.web_port}", "--noreload"),
            self.env,
            self.run_dir,
            lambda: port_answers(self.web_port),
        )
        self.workers = [
            Proc(
                f"worker{i}",
                manage(
                    "rundramatiq",
                    "--processes",
                    "1",
                    "--threads",
                    str(self.args.threads),
                    "--worker-shutdown-timeout",
                    str(WORKER_SHUTDOWN_TIMEOUT_MS),
                ),
                self.env,
                self.run_dir,
                b"is ready for action",
            )
            for i in range(self.args.workers)
        ]
        self.relay = Proc(
            "relay", manage("run_outbox_relay", "--interval", "0.2"), self.env, self.run_dir, b"Outbox relay started"
        )
        self.scheduler = Proc("scheduler", manage("runperiodiq"), self.env, self.run_dir, b"Registered periodic actors")
        for proc in [self.web, *self.workers, self.relay, self.scheduler]:
            proc.start()
        self.log("all processes up")

    @property
    def long_running(self) -> list[Proc]:
        return [self.redis, self.web, *self.workers, self.relay, self.scheduler]

    # ----- restarts
    def restart(self, proc: Proc, why: str) -> bool:
        """Start `proc` again; on failure leave it to the supervisor, which keeps trying."""
        try:
            proc.start()
            return True
        except StartFailed as error:
            self.events.record("start failed", f"{proc.name} ({why}): {error}")
            proc.expected_up = True  # the supervisor retries
            return False

    def supervise(self) -> None:
        """Notice any process that died without the soak killing it, record it, start it again."""
        while not self.stop_background.wait(0.5):
            for proc in self.long_running:
                if not proc.lock.acquire(blocking=False):
                    continue
                try:
                    if proc.expected_up and not proc.alive():
                        if proc.started_ok:
                            code = proc.popen.returncode if proc.popen else None
                            detail = f"{proc.name} exit {code}, see {proc.log_path.name}"
                            self.unexpected_exits.append(detail)
                            self.events.record("UNEXPECTED EXIT", detail)
                            if proc in self.workers:
                                self.worker_deaths.append(
                                    (time.time(), "exited by itself", proc.tag, WINDOW_AFTER_EXIT_S)
                                )
                        proc.kill_group()
                        self._went_down(proc.name)
                        if self.restart(proc, "after an unexpected exit"):
                            self._came_up(proc.name)
                finally:
                    proc.lock.release()

    def _went_down(self, name: str) -> None:
        with self.lock:
            if name in self.down:
                self.down[name].append([time.time(), math.inf])

    def _came_up(self, name: str) -> None:
        with self.lock:
            if self.down.get(name) and self.down[name][-1][1] == math.inf:
                self.down[name][-1][1] = time.time()

    def _was_down(self, name: str, start: float, end: float) -> bool:
        """Whether `name` was down (or going down) at any moment between start and end."""
        with self.lock:
            return any(down <= end and start <= up for down, up in self.down[name])

    # ----- faults
    def run_fault(self, fault: Fault) -> None:
        kind = fault.kind
        with self.lock:
            self.fault_counts[kind] += 1
        if kind.startswith("worker"):
            worker = self.workers[fault.target % len(self.workers)]
            with worker.lock:
                worker.expected_up = False
                pid = worker.pid
                if kind == "worker SIGKILL":
                    self.worker_deaths.append(
                        (self.events.record(kind, f"{worker.tag} pid {pid}"), kind, worker.tag, WINDOW_AFTER_KILL_S)
                    )
                    worker.kill_group()
                else:
                    self.events.record(kind, f"{worker.tag} pid {pid}")
                    graceful = worker.terminate(20)
                    self.worker_deaths.append(
                        (
                            self.events.record(
                                "worker exited", f"{worker.tag} {'on its own' if graceful else 'ESCALATED to SIGKILL'}"
                            ),
                            kind,
                            worker.tag,
                            WINDOW_AFTER_EXIT_S if graceful else WINDOW_AFTER_KILL_S,
                        )
                    )
                self.stop_chaos.wait(fault.pause)
                self.restart(worker, kind)
        elif kind == "redis SIGKILL while smtp stopped":
            with self.smtp_lock, self.redis.lock:
                self.events.record("smtp stopped", "(compound)")
                self.smtp.stop()
                self.stop_chaos.wait(1.0)  # jobs start failing and retrying
                self.redis.expected_up = False
                self._went_down("redis")
                self.events.record("redis SIGKILL", "(compound, smtp still stopped)")
                self.redis.kill_group()
                self.stop_chaos.wait(fault.pause)
                if self.restart(self.redis, kind):
                    self._came_up("redis")
                self.events.record("redis back", "(compound)")
                self.stop_chaos.wait(1.0)
                self._smtp_start()
                self.events.record("smtp back", "(compound)")
        elif kind.startswith("redis"):
            with self.redis.lock:
                self.redis.expected_up = False
                self._went_down("redis")
                self.events.record(kind)
                if "SIGKILL" in kind:
                    self.redis.kill_group()
                else:
                    self.redis.terminate(15)
                self.stop_chaos.wait(fault.pause)
                if self.restart(self.redis, kind):
                    self._came_up("redis")
                self.events.record("redis back")
        elif kind == "smtp stopped":
            with self.smtp_lock:
                self.events.record(kind)
                self.smtp.stop()
                self.stop_chaos.wait(fault.pause)
                self._smtp_start()
                self.events.record("smtp back")
        elif kind in ("smtp slow", "smtp slow final reply"):
            # Slow to take the message (before storing it), or storing it and answering late.
            delay = "delay" if kind == "smtp slow" else "final_reply_delay"
            with self.smtp_lock:
                self.events.record(kind, f"{fault.extra:.1f}s per message")
                setattr(self.smtp.handler, delay, fault.extra)
                self.stop_chaos.wait(fault.pause)
                setattr(self.smtp.handler, delay, 0.0)
                self.events.record(f"{kind}: fast again")
        elif kind == "web SIGKILL restart":
            with self.web.lock:
                self.web.expected_up = False
                self._went_down("web")
                self.events.record(kind, f"pid {self.web.pid}")
                self.web.kill_group()
                self.stop_chaos.wait(fault.pause)
                if self.restart(self.web, kind):
                    self._came_up("web")
                    self.events.record("web back")
        elif kind in ("relay SIGKILL", "scheduler SIGKILL"):
            proc = self.relay if kind.startswith("relay") else self.scheduler
            with proc.lock:
                proc.expected_up = False
                self.events.record(kind, f"pid {proc.pid}")
                proc.kill_group()
                self.stop_chaos.wait(fault.pause)
                self.restart(proc, kind)
        elif kind == "database outage":
            self.database_outage(fault.pause)
        elif kind == "poison":
            self.inject_poison()

    def database_outage(self, seconds: float) -> None:
        """SQLite: another process holds the write lock for `seconds`. PostgreSQL: the soak's own server is
        stopped (fast shutdown) and started again after `seconds`; a server it did not start is left alone."""
        with self.database_lock:
            if self.database_url.startswith("sqlite"):
                self._went_down("database")
                self.events.record("database outage", f"SQLite write lock held {seconds:.1f}s")
                self.sqlite_lock = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        SQLITE_LOCK_HOLDER,
                        self.database_url.removeprefix("sqlite:///").split("?")[0],
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                assert self.sqlite_lock.stdout is not None
                self.sqlite_lock.stdout.readline()  # "locked" (or EOF if it could not take the lock)
                self.stop_chaos.wait(seconds)
                self._database_back()
            elif self.postgres is not None:
                self._went_down("database")
                self.events.record("database outage", f"PostgreSQL stopped for {seconds:.1f}s")
                self.postgres.stop()
                self.stop_chaos.wait(seconds)
                self._database_back()
            else:
                self.events.record("database outage skipped", "PostgreSQL not started by the soak (--own-postgres)")

    def _database_back(self) -> None:
        if self.sqlite_lock is not None:
            self.sqlite_lock.communicate(timeout=30)
            self.sqlite_lock = None
        if self.postgres is not None and not self.postgres.alive:
            self.postgres.start()
        self._came_up("database")
        self.events.record("database back")

    def _smtp_start(self) -> None:
        for _ in range(50):
            try:
                self.smtp.start()
                return
            except Exception as error:  # the port may linger a moment
                self.events.record("smtp start failed", repr(error))
                time.sleep(0.2)

    def inject_poison(self) -> None:
        """An unknown actor, arguments that do not fit, an undecodable body: each must be dead-lettered."""
        import dramatiq
        from dramatiq import Message

        from dramaturg.broker import RedisBroker

        broker = cast(RedisBroker, dramatiq.get_broker())
        for _ in range(self.args.poison):
            unknown: Message[Any] = Message(
                queue_name="emails", actor_name="no_such_actor", args=(), kwargs={}, options={}
            )
            bad_args: Message[Any] = Message(
                queue_name="emails", actor_name="send_welcome_email", args=(1, 2, 3), kwargs={}, options={}
            )
            raw_id = str(uuid.uuid4())
            jobs: list[tuple[str, str, Callable[[], object]]] = [
                (unknown.message_id, "unknown actor", partial(broker.enqueue, unknown)),
                (bad_args.message_id, "bad arguments", partial(broker.enqueue, bad_args)),
                (raw_id, "undecodable body", partial(broker.do_enqueue, "emails", raw_id, b"{chaos: not json")),
            ]
            for ident, what, send in jobs:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        send()
                        self.poison[ident] = what
                        self.events.record("poison", f"{what} {ident}")
                        break
                    except Exception as error:  # Redis may be down right now: try again, as a client would
                        if time.monotonic() > deadline:
                            self.events.record("poison NOT injected", f"{what}: {error!r}")
                            break
                        time.sleep(0.5)

    def chaos(self, schedule: list[Fault]) -> None:
        """Each fault starts at its offset in a thread of its own, so faults overlap (a worker
        killed while Redis is down); faults on one target take turns (its lock)."""
        start = time.time()
        running = []
        for fault in schedule:
            if self.stop_chaos.wait(max(0.0, start + fault.at - time.time())):
                break
            thread = threading.Thread(target=self._fault, args=(fault,), name=f"fault-{fault.at}", daemon=True)
            thread.start()
            running.append(thread)
        for thread in running:
            thread.join(60)

    def _fault(self, fault: Fault) -> None:
        try:
            self.run_fault(fault)
        except Exception as error:  # a fault the soak could not make is a soak bug: visible, not fatal
            self.events.record("FAULT ERROR", f"{fault.describe()}: {error!r}")

    def reconcile_loop(self) -> None:
        while not self.stop_background.wait(self.args.reconcile_every):
            self.reconcile()
            if self.reconciler["missing"]:
                return

    def reconcile(self) -> None:
        """One `reconcile_deliveries` run. Failing while Redis is down is what it should do (it says so
        and exits 1); failing otherwise is a failure of the soak."""
        start = time.time()
        code, output = run_once(
            manage("reconcile_deliveries", "--older-than", str(self.args.reconcile_older_than)),
            self.env,
            self.run_dir / "reconcile.log",
            timeout=60,
        )
        if code != 0 and "Unknown command" in output:
            self.reconciler["missing"] += 1
            self.events.record("reconciler missing", "manage.py reconcile_deliveries does not exist here")
        elif code == 0:
            self.reconciler["ok"] += 1
            found = re.search(r"Re-enqueued (\d+)", output)
            if found and int(found.group(1)):
                self.reconciler["re-enqueued"] += int(found.group(1))
                self.events.record("reconciler re-enqueued", found.group(1))
        elif self._was_down("redis", start, time.time()):
            self.reconciler["failed, redis down"] += 1
        elif self._was_down("database", start, time.time()):
            self.reconciler["failed, database down"] += 1
        else:
            self.reconciler["failed"] += 1
            self.events.record("RECONCILER FAILED", f"exit {code}, see reconcile.log")

    # ----- signups
    def submit(self, pool: ThreadPoolExecutor, email: str, number: int, twin: bool = False) -> None:
        with self.lock:
            self.in_flight += 1
        pool.submit(self.signup, email, number, twin)

    def signup(self, email: str, number: int, twin: bool = False) -> None:
        try:
            self._signup(email, number, twin)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _signup(self, email: str, number: int, twin: bool) -> None:
        """One POST. `number` > 0 for a retry; `twin` for either of a double submit."""
        body = json.dumps({"email": email, "password": PASSWORD}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/api/signup/",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        start = time.time()
        status, detail, retry_after = None, "", 1.0
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
            asked = error.headers.get("Retry-After") or ""
            if status == 503 and re.fullmatch(r"[0-9]{1,3}", asked):
                retry_after = float(asked)  # as the server asks
        except (OSError, http.client.HTTPException) as error:
            raw, detail = b"", repr(error)
        end = time.time()
        if status is None:
            outcome = "conn"
        elif status in (201, 202):
            outcome = "accepted"
        elif status == 503 and self._was_down("database", start, end):
            outcome = "unavailable"  # not accepted: the client tries again, as told by Retry-After
        elif status >= 500:
            outcome, detail = "5xx", _gist(raw)
        elif status == 400 and (number > 0 or twin) and b"exist" in raw:
            outcome = "exists"  # an earlier try (or the twin) committed it; the API before 202 said so
        else:
            outcome, detail = "4xx", _gist(raw)
        with self.lock:
            self.attempts.append(Attempt(email, number, start, end, outcome, status, detail, twin))
            if outcome in ("conn", "5xx", "unavailable") and number + 1 < 30:
                self.retries.append((end + retry_after, email, number + 1, twin))

    def drive_signups(self, pool: ThreadPoolExecutor, seconds: float) -> None:
        """New signups at a steady rate for `seconds`; retries of broken ones whenever the web is up."""
        start = time.time()
        n = 0
        rng = random.Random(self.seed + 1)  # which signups are double-submitted
        while True:
            now = time.time()
            if now - start >= seconds:
                return
            due = start + n / self.args.rate
            if now >= due:
                email = f"u{n}-{self.run_id}@{EMAIL_DOMAIN}".lower()
                self.emails.append(email)
                twins = rng.random() < self.args.double_submit  # a double click: the same signup twice at once
                self.submit(pool, email, 0, twin=twins)
                if twins:
                    self.submit(pool, email, 0, twin=True)
                n += 1
            self.submit_due_retries(pool)
            time.sleep(max(0.0, min(0.05, due - time.time())))

    def submit_due_retries(self, pool: ThreadPoolExecutor) -> None:
        if not (self.web.expected_up and self.web.alive()):
            return
        now = time.time()
        with self.lock:
            due = [r for r in self.retries if r[0] <= now]
            for r in due:
                self.retries.remove(r)
        for _, email, number, twin in due:
            self.submit(pool, email, number, twin)

    def finish_retries(self, pool: ThreadPoolExecutor, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.submit_due_retries(pool)
            with self.lock:
                if not self.retries and not self.in_flight:
                    return
            time.sleep(0.2)
        self.events.record("retries unfinished", f"{len(self.retries)} signups still failing")

    # ----- the end
    def restore(self) -> None:
        """Everything up, SMTP fast, before waiting for quiet."""
        with self.database_lock:
            if self.sqlite_lock is not None or (self.postgres is not None and not self.postgres.alive):
                self._database_back()
        self.smtp.handler.delay = self.smtp.handler.final_reply_delay = 0.0
        self._smtp_start()
        for proc in self.long_running:
            with proc.lock:
                if not proc.alive() and self.restart(proc, "restore"):
                    self._came_up(proc.name)

    def state(self) -> dict[str, Any]:
        """Outbox, deliveries, queues and ack sets of the run, as the checks read them."""
        from django.db import connection

        from accounts.models import EmailDelivery
        from dramaturg.models import OutboxMessage
        from dramaturg.store import keys
        from dramaturg.store import queues as store_queues
        from dramaturg.store.connection import client

        try:
            deliveries = Counter(
                EmailDelivery.objects.filter(user__email__endswith=f"-{self.run_id}@{EMAIL_DOMAIN}").values_list(
                    "status", flat=True
                )
            )
            outbox_pending = OutboxMessage.objects.filter(dispatched_at__isnull=True).count()
        finally:
            connection.close()
        queues = store_queues.all_queue_counts()
        conn = client()
        acks = {k.decode(): conn.scard(k) for k in conn.scan_iter(match=keys.acks_key("*", "*"), count=1000)}
        return {
            "deliveries": dict(deliveries),
            "outbox_pending": outbox_pending,
            "ready": sum(q.ready for q in queues),
            "delayed": sum(q.delayed for q in queues),
            "in_progress": sum(q.in_progress for q in queues),
            "ack_members": {k: v for k, v in acks.items() if v},
            "emails": len(self.smtp.received()),
        }

    def wait_for_quiet(self, timeout: float) -> tuple[bool, dict[str, Any]]:
        """Until everything is settled and stays so for 3 s; gives up after `timeout`, or once
        nothing has moved for longer than any lease, retry or reconciler pass would take."""
        deadline = time.time() + timeout
        stall_after = 20.0
        if not self.reconciler["missing"]:
            stall_after += self.args.reconcile_every + self.args.reconcile_older_than
        last: dict[str, Any] = {}
        stable_since = None
        unchanged_since = time.time()
        while True:
            try:
                state = self.state()
            except Exception as error:  # database locked, Redis not back yet: look again
                state = {"error": repr(error)}
            settled = (
                not state.get("error")
                and set(state["deliveries"]) <= {"sent", "failed"}
                and not state["outbox_pending"]
                and not state["ready"]
                and not state["delayed"]
                and not state["in_progress"]
                and not state["ack_members"]
            )
            if settled and state == last:
                stable_since = stable_since or time.time()
                if time.time() - stable_since >= 3:  # late duplicates would show by now
                    return True, state
            else:
                stable_since = None
            if state != last:
                unchanged_since = time.time()
            last = state
            if time.time() > deadline or time.time() - unchanged_since > stall_after:
                return False, state
            time.sleep(0.5)

    def check(self, quiet: bool, state: dict[str, Any]) -> dict[str, Any]:
        from django.db import connection

        from accounts.models import EmailDelivery, User
        from dramaturg.models import OutboxMessage
        from dramaturg.store import dead_letters

        failures: list[str] = []
        details: list[str] = []
        users = {u.email: u for u in User.objects.filter(email__endswith=f"-{self.run_id}@{EMAIL_DOMAIN}")}
        deliveries = {
            d.user.pk: d for d in EmailDelivery.objects.select_related("user").filter(user__in=list(users.values()))
        }
        outbox = {
            row.args[0]: row
            for row in OutboxMessage.objects.filter(actor_name="send_welcome_email")
            if row.args and row.args[0] in {u.pk for u in users.values()}
        }
        connection.close()

        received: dict[str, list[tuple[float, str, str | None]]] = defaultdict(list)
        handler = self.smtp_handler
        with handler.lock:
            messages = list(zip(handler.messages, handler.times, handler.senders, strict=False))
        other_mail: Counter[str] = Counter()
        with open(self.run_dir / "emails.jsonl", "w") as f:
            for message, at, sender in messages:
                message_id = message["Message-ID"] or ""
                f.write(
                    json.dumps(
                        {"to": message["To"], "message_id": message_id, "at": round(at - self.t0, 3), "sender": sender}
                    )
                    + "\n"
                )
                if message_id.startswith("<welcome-"):
                    received[(message["To"] or "").lower()].append((at, message_id, sender))
                else:  # e.g. the "you already have an account" notice a repeated signup may send
                    notice = re.match(r"<(\D+?)-\d", message_id)
                    other_mail[notice.group(1) if notice else "(other)"] += 1

        with open(self.run_dir / "attempts.jsonl", "w") as f:
            for a in self.attempts:
                f.write(
                    json.dumps({**a.__dict__, "start": round(a.start - self.t0, 3), "end": round(a.end - self.t0, 3)})
                    + "\n"
                )
        # Signups.
        by_email: dict[str, list[Attempt]] = defaultdict(list)
        for attempt in self.attempts:
            by_email[attempt.email].append(attempt)
        outcomes = Counter(a.outcome for a in self.attempts)
        acknowledged = {e for e, tries in by_email.items() if any(a.outcome in ("accepted", "exists") for a in tries)}
        never_answered = [e for e in self.emails if e not in acknowledged]
        lost_signups = sorted(acknowledged - set(users))
        if lost_signups:
            failures.append(f"{len(lost_signups)} signups answered 201/202 but no user exists")
            details += [f"acknowledged, no user: {e}" for e in lost_signups[:10]]
        conn_expected = conn_unexpected = 0
        for attempt in self.attempts:
            if attempt.outcome not in ("conn", "5xx"):
                continue
            during_outage = self._was_down("web", attempt.start, attempt.end)
            if attempt.outcome == "conn" and during_outage:
                conn_expected += 1
                continue
            if attempt.outcome == "conn":
                conn_unexpected += 1
            twin = " (double submit)" if attempt.twin else ""
            details.append(
                f"{attempt.outcome} {attempt.status or ''} at +{attempt.start - self.t0:.1f}s for "
                f"{attempt.email}{twin} (web {'down' if during_outage else 'up'}): {attempt.detail}"
            )
        # A request shed under overload (dramaturg.bounded: a fast 503 with Retry-After, logged "Overloaded (")
        # is the answer the site promises past its capacity, retried as asked: not a server error.
        shed = sum(1 for a in self.attempts if a.outcome == "5xx" and a.status == 503)
        log_signals = self.log_signals()  # every log read once: here and in the result
        overloaded = min(shed, log_signals.get(f"web: {OVERLOADED_LABEL}", 0))
        server_errors = outcomes["5xx"] - overloaded
        if server_errors:
            failures.append(f"{server_errors} responses 5xx")
        if conn_unexpected:
            failures.append(f"{conn_unexpected} connection errors while the web server was up")
        if outcomes["4xx"]:
            failures.append(f"{outcomes['4xx']} unexpected 4xx")
            details += [
                f"4xx {a.status} for {a.email}{' (double submit)' if a.twin else ''}: {a.detail}"
                for a in self.attempts
                if a.outcome == "4xx"
            ][:10]

        # Emails.
        lost = sorted(email for email in users if not received.get(email))
        stranger = sorted(set(received) - set(users))
        dup_window = dup_unknown = dup_other = 0
        delays = []
        for email, user in users.items():
            copies = sorted(received.get(email, []))
            if not copies:
                continue
            delays.append(copies[0][0] - user.date_joined.timestamp())
            for (before, before_id, sender), (at, message_id, again_by) in itertools.pairwise(copies):
                # The copy before was accepted but its row never marked sent: did its sender die then?
                if sender:
                    death = next(
                        (
                            f"{how} of its sender {tag} at {t - before:+.1f}s"
                            for t, how, tag, after in self.worker_deaths
                            if tag == sender and before - WINDOW_BEFORE_S <= t <= before + after
                        ),
                        None,
                    )
                else:  # its socket was already closed when the server took DATA: its sender had just died
                    death = next(
                        (
                            f"{how} of {tag} at {t - before:+.1f}s (sender gone before DATA)"
                            for t, how, tag, _ in self.worker_deaths
                            if before - WINDOW_BEFORE_S <= t <= before + 0.5
                        ),
                        None,
                    )
                same_id = message_id == before_id
                line = (
                    f"{email}: sent by {sender or '?'} at +{before - self.t0:.1f}s, again by {again_by or '?'} "
                    f"{at - before:+.1f}s later"
                )
                delivery = deliveries.get(user.pk)
                if death and same_id:
                    dup_window += 1
                    details.append(f"duplicate in window: {line}; {death}")
                elif same_id and delivery is not None and delivery.outcome_unknown_at is not None:
                    # No answer after the hand-over (the server stopped or was slow): the rule's one more send.
                    dup_unknown += 1
                    details.append(f"duplicate by the outcome-unknown rule: {line}")
                else:
                    dup_other += 1
                    details.append(
                        f"DUPLICATE: {line}; same Message-ID: {same_id}; nearest event: {self.events.nearest(before)}"
                    )
        for email in lost[:15]:
            user = users[email]
            d = deliveries.get(user.pk)
            row = outbox.get(user.pk)
            details.append(
                f"LOST: {email} (user {user.pk}, joined +{user.date_joined.timestamp() - self.t0:.1f}s): delivery "
                + (f"{d.status}, attempts {d.attempts}, last error {d.last_error[:120]!r}" if d else "missing")
                + "; outbox "
                + (
                    "missing"
                    if row is None
                    else f"dispatched +{row.dispatched_at.timestamp() - self.t0:.1f}s"
                    if row.dispatched_at
                    else f"PENDING, attempts {row.attempts}"
                )
                + f"; nearest event to signup: {self.events.nearest(user.date_joined.timestamp())}"
            )
        if lost:
            failures.append(f"{len(lost)} committed signups got no welcome email")
        if dup_other:
            failures.append(f"{dup_other} duplicate emails outside the documented window")
        if stranger:
            failures.append(f"{len(stranger)} emails to addresses with no user")

        # Stuck.
        stuck = []
        not_sent = {k: v for k, v in state.get("deliveries", {}).items() if k != "sent"}
        if not_sent:
            stuck.append(f"delivery rows not sent: {not_sent}")
        if len(deliveries) != len(users):
            stuck.append(f"{len(users) - len(deliveries)} users without a delivery row")
        for key in ("outbox_pending", "ready", "delayed", "in_progress"):
            if state.get(key):
                stuck.append(f"{key}: {state[key]}")
        if state.get("ack_members"):
            stuck.append(f"ack sets with members: {state['ack_members']}")
        if state.get("error"):
            stuck.append(f"state unreadable: {state['error']}")
        if stuck:
            failures.append("not quiet at the end: " + "; ".join(stuck))
            details += self.stuck_messages()

        # Dead letters.
        dead = dead_letters.page_dead(limit=10_000).messages
        seen_poison = set()
        unexpected_dead = []
        for letter in dead:
            ident = letter.message_id if letter.message_id in self.poison else letter.redis_id
            if ident in self.poison:
                seen_poison.add(ident)
                if not letter.reason:
                    failures.append(f"poison {self.poison[ident]} dead-lettered without a reason")
            else:
                unexpected_dead.append(f"{letter.actor_name}{letter.args_preview}: {letter.reason[:150]}")
        missing_poison = [f"{what} {i}" for i, what in self.poison.items() if i not in seen_poison]
        if missing_poison:
            failures.append(f"{len(missing_poison)} poison messages not dead-lettered: {missing_poison}")
        if unexpected_dead:
            failures.append(f"{len(unexpected_dead)} dead letters that are not injected poison")
            details += [f"DEAD LETTER: {d}" for d in unexpected_dead[:10]]
        if self.poison and len(self.poison) < 3 * self.args.poison:
            failures.append("some poison could not be injected (see events.log)")

        if self.unexpected_exits:
            failures.append(f"{len(self.unexpected_exits)} processes died unkilled: {self.unexpected_exits}")
        if self.reconciler["failed"]:
            failures.append(f"reconcile_deliveries failed {self.reconciler['failed']} times (reconcile.log)")
        for _, kind, what in self.events.of("FAULT ERROR", "start failed", "retries unfinished"):
            details.append(f"{kind}: {what}")

        return {
            "log_signals": log_signals,
            "seed": self.seed,
            "minutes": self.args.minutes,
            "run_dir": str(self.run_dir),
            "faults": dict(self.fault_counts),
            "reconciler": dict(self.reconciler),
            "signups_attempted": len(self.emails),
            "requests": len(self.attempts),
            "signups_committed": len(users),
            "signups_acknowledged": len(acknowledged),
            "signups_never_answered": len(never_answered),
            "connection_errors_web_down": conn_expected,
            "connection_errors_web_up": conn_unexpected,
            "responses_5xx": server_errors,
            "responses_503_database_down": outcomes["unavailable"],
            "responses_503_overloaded": overloaded,
            "responses_4xx_unexpected": outcomes["4xx"],
            "emails_received": sum(len(v) for v in received.values()),
            "other_emails": dict(other_mail),
            "duplicates_in_window": dup_window,
            "duplicates_outcome_unknown": dup_unknown,
            "duplicates_other": dup_other,
            "lost": len(lost),
            "emails_to_strangers": len(stranger),
            "max_delay_s": round(max(delays), 2) if delays else None,
            "median_delay_s": round(statistics.median(delays), 2) if delays else None,
            "poison_injected": len(self.poison),
            "poison_dead_lettered": len(seen_poison),
            "dead_letters_other": len(unexpected_dead),
            "quiet": quiet,
            "state": state,
            "unexpected_exits": self.unexpected_exits,
            "failures": failures,
            "details": details,
        }

    def stuck_messages(self) -> list[str]:
        """What is still in Redis at the end, and who holds it (for the report)."""
        from dramaturg.store import keys, queues
        from dramaturg.store.connection import client

        conn = client()
        now_ms = time.time() * 1000
        lines = []
        for key in conn.scan_iter(match=keys.acks_key("*", "*"), count=1000):
            _, worker, queue = key.decode().split(".", 2)
            beat = conn.zscore(keys.heartbeats_key(), worker)
            holder = f"worker {worker[:8]} " + (
                f"last heartbeat {(now_ms - beat) / 1000:.1f}s ago" if beat else "with no heartbeat"
            )
            for member in conn.smembers(key):
                body = conn.hget(keys.consumed_messages_key(queue), member)
                lines.append(f"STUCK unacked on {queue} by {holder}: {_describe(body)}")
        for queue in queues.queue_names():
            for message in queues.page_ready(queue, limit=10):
                lines.append(f"STUCK ready on {queue}: {_describe(json.dumps(message.data).encode())}")
            delayed, _ = queues.page_delayed(queue, limit=10)
            for message in delayed:
                eta = f"eta {(message.eta_ms - now_ms) / 1000:+.1f}s" if message.eta_ms else "no eta"
                lines.append(f"STUCK delayed on {queue} ({eta}): {_describe(json.dumps(message.data).encode())}")
        return lines

    def log_signals(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for path in sorted(self.run_dir.glob("*.log")):
            for prefix, label, needle in LOG_SIGNALS:
                if path.name.startswith(prefix):
                    hits = path.read_text(errors="replace").count(needle)
                    if hits:
                        counts[f"{prefix}: {label}"] += hits
        return dict(counts)

    # ----- the whole run
    def run(self) -> dict[str, Any]:
        seconds = self.args.minutes * 60
        schedule = make_schedule(self.seed, seconds, self.args.workers)
        with open(self.run_dir / "schedule.txt", "w") as f:
            f.writelines(f"{fault.at:8.2f}s  {fault.describe()}\n" for fault in schedule)
        self.log(f"run dir {self.run_dir}")
        self.log(
            f"seed {self.seed}: {len(schedule)} scheduled events over {seconds:.0f}s "
            f"({dict(Counter(f.kind for f in schedule))})"
        )
        self.setup()
        background = [
            threading.Thread(target=self.supervise, name="supervisor", daemon=True),
            threading.Thread(target=self.reconcile_loop, name="reconciler", daemon=True),
        ]
        chaos = threading.Thread(target=self.chaos, args=(schedule,), name="chaos", daemon=True)
        for thread in [*background, chaos]:
            thread.start()
        pool = ThreadPoolExecutor(self.args.clients, thread_name_prefix="client")
        try:
            self.log(f"chaos: {self.args.rate}/s signups for {seconds:.0f}s")
            self.drive_signups(pool, seconds)
            self.stop_chaos.set()
            chaos.join(60)
            self.log("chaos over; restoring everything and finishing broken signups")
            self.restore()
            self.finish_retries(pool, 60)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.log("waiting for quiet")
        quiet, state = self.wait_for_quiet(self.args.quiet_timeout)
        if self.reconciler["ok"] and not quiet:  # one more pass, as an operator would, then look again
            self.reconcile()
            quiet, state = self.wait_for_quiet(min(30, self.args.quiet_timeout))
        self.stop_background.set()
        return self.check(quiet, state)


def print_table(result: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = [("faults injected", "")]
    for kind in [*FAULT_WEIGHTS, "poison"]:
        if result["faults"].get(kind):
            rows.append((f"  {kind}", str(result["faults"][kind])))
    rec = result["reconciler"]
    rows.append(
        (
            "  reconcile_deliveries runs",
            "MISSING (command not in this branch)"
            if rec.get("missing")
            else f"{rec.get('ok', 0)} ok, {rec.get('failed, redis down', 0)} refused while Redis was down, "
            f"{rec.get('failed, database down', 0)} while the database was, "
            f"{rec.get('failed', 0)} failed; {rec.get('re-enqueued', 0)} emails re-enqueued",
        )
    )
    delay = result["max_delay_s"]
    rows += [
        ("signups attempted", str(result["signups_attempted"])),
        ("  HTTP requests (with retries)", str(result["requests"])),
        ("  acknowledged 201/202", str(result["signups_acknowledged"])),
        ("  never answered", str(result["signups_never_answered"])),
        ("signups committed (user exists)", str(result["signups_committed"])),
        ("connection errors, web down", str(result["connection_errors_web_down"])),
        ("connection errors, web up", str(result["connection_errors_web_up"])),
        ("5xx responses", str(result["responses_5xx"])),
        ("503 while the database was away (retried)", str(result["responses_503_database_down"])),
        ("503 overloaded, shed (retried)", str(result["responses_503_overloaded"])),
        ("unexpected 4xx", str(result["responses_4xx_unexpected"])),
        ("welcome emails received", str(result["emails_received"])),
        (
            "other emails (e.g. account notices)",
            ", ".join(f"{k}: {v}" for k, v in result["other_emails"].items()) or "0",
        ),
        ("duplicates in window", str(result["duplicates_in_window"])),
        ("duplicates by the outcome-unknown rule", str(result["duplicates_outcome_unknown"])),
        ("duplicates other", str(result["duplicates_other"])),
        ("lost (committed, no email)", str(result["lost"])),
        ("max signup-to-email delay", f"{delay:.1f} s (median {result['median_delay_s']:.1f} s)" if delay else "-"),
        ("poison dead-lettered", f"{result['poison_dead_lettered']} of {result['poison_injected']}"),
        ("other dead letters", str(result["dead_letters_other"])),
        ("processes died unkilled", str(len(result["unexpected_exits"]))),
        ("quiet at the end", "yes" if result["quiet"] else "NO"),
    ]
    if result["log_signals"]:
        rows.append(("in the logs", ""))
        rows += [(f"  {label}", str(count)) for label, count in result["log_signals"].items()]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"chaos soak, seed {result['seed']}, {result['minutes']} min")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 30))
    for line in result["details"][:40]:
        print(f"  {line}")
    verdict = "PASS" if not result["failures"] else "FAIL"
    print(f"{verdict}" + "".join(f"\n  - {f}" for f in result["failures"]))
    print(f"logs: {result['run_dir']}")
    print(f"replay: .venv/bin/python bench/chaos.py --minutes {result['minutes']} --seed {result['seed']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the chaos phase")
    parser.add_argument("--seed", type=int, default=None, help="the schedule's seed (random if not given)")
    parser.add_argument("--rate", type=float, default=3.0, help="new signups per second")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="rundramatiq processes (1 process each)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--double-submit", type=float, default=0.05, help="share of signups sent twice at once (a double click)"
    )
    parser.add_argument("--poison", type=int, default=1, help="rounds of 3 poison messages (0: none)")
    parser.add_argument("--reconcile-every", type=float, default=10.0, help="seconds between reconciler runs")
    parser.add_argument("--reconcile-older-than", type=int, default=15, help="reconcile_deliveries --older-than")
    parser.add_argument("--quiet-timeout", type=float, default=90.0, help="bound on the wait for quiet")
    parser.add_argument(
        "--own-postgres",
        action="store_true",
        help="run on a PostgreSQL server of the soak's own (tests/postgres_server.py), restarted by database faults",
    )
    parser.add_argument("--run-dir", help="where logs go (default var/chaos/<time>-seed<S>-<id>)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)

    atexit.register(kill_all)

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)
    soak = Soak(args)
    try:
        result = soak.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted; logs in {soak.run_dir}; seed {args.seed}", flush=True)
        return 130
    except SystemExit:
        print(f"\nstopped by a signal; logs in {soak.run_dir}; seed {args.seed}", flush=True)
        raise
    finally:
        soak.stop_chaos.set()
        soak.stop_background.set()
        kill_all()
        if hasattr(soak, "smtp"):
            soak.smtp.stop()
    summary = {k: v for k, v in result.items()}
    (soak.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print_table(result)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
