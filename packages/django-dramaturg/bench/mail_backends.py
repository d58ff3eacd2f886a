"""Every email through a queue: delay from commit to the SMTP server, and emails/s, for plain `send_mail`
calls inside transactions in the host project of the package's tests (bench/settings.py), sent by

- dramaturg's `OutboxEmailBackend` (the host's MAILERS["default"]), with a worker and relay as the reference
  project's Procfile runs them;
- django-mailer's `DbBackend`, with `runmailer` (SQLite) or `runmailer_pg` (PostgreSQL), as its docs advise
  instead of a once-a-minute cron `send_mail` (polling every MAILER_EMPTY_QUEUE_SLEEP = 30 s by default);
- django-post-office's backend, with `send_queued_mail --processes=1` run every minute as its README's cron
  line does (`* * * * *`; --cron-period changes it), its Celery-free mode.

    python3 packages/django-dramaturg/bench/mail_backends.py [--emails 1000] [--paced 30] \
        [--databases sqlite,postgresql] [--systems outbox,mailer,post_office] [--cron-period 60]

It runs in the bench's own virtualenv (var/bench-venv, bench/requirements.txt: django-mailer and
django-post-office are never installed into the project's .venv), with a redis-server of its own and the test
harness's SMTP sink (harness/smtp_sink.py: aiosmtpd on loopback, in this process). For each database and system,
on a fresh database, `bench/mail_producer.py` sends, one transaction per email:
- --paced emails 0.2-1 s apart to idle senders: the delay a user waits for;
- --emails back to back, the senders running: the delay under a steady stream (one producer's pace);
- --emails more while the senders are stopped, then starts them: the rate at which they drain a backlog
  (first to last arrival).
Each email's delay is from its transaction's commit to the sink's receipt of its first copy. Every subject must
arrive exactly once: lost and duplicated emails (by subject and by Message-ID) are counted and printed.

Prints the figures and the ratios (no assertion on time) and writes bench/results/mail-backends.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench._setup import (
    BENCH,
    PACKAGE,
    PACKAGE_PATHS,
    VAR,
    Process,
    ensure_bench_venv,
    free_port,
    percentile,
    redis_command,
    use_paths,
    wait_for_redis,
)

RESULTS = BENCH / "results"
NAMESPACE = "mail-bench"
PG_URL = "postgres://postgres@127.0.0.1:5432"
OUTBOX, OUTBOX_UNLIMITED, MAILER, POST_OFFICE = "outbox", "outbox_no_rate_limit", "mailer", "post_office"
OURS = (OUTBOX, OUTBOX_UNLIMITED)
TITLES = {
    OUTBOX: "dramaturg OutboxEmailBackend",
    OUTBOX_UNLIMITED: "dramaturg, EMAIL.RATE_PER_S raised",
    MAILER: "django-mailer DbBackend",
    POST_OFFICE: "django-post-office",
}
PHASES = ("paced", "stream", "backlog")
PY = "python"  # shown in the commands; the bench runs its own interpreter


@dataclass
class Sender:
    """One long-running sender process: its arguments after the interpreter, the line its log shows when it is
    ready (and how many times), and extra environment."""

    name: str
    args: list[str]
    ready: bytes = b""
    ready_count: int = 1
    env: dict[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        prefix = "".join(f"{k}={v} " for k, v in self.env.items())
        return prefix + " ".join(self.args).replace(sys.executable, PY)


def senders(system: str, database: str, cron_period: int) -> list[Sender]:
    """Each system's senders, as its docs (or, for ours, the Procfile) run them."""
    if system in OURS:
        worker = [
            "-m",
            "django",
            "rundramatiq",
            "--processes",
            "2",
            "--threads",
            "8",
            "--worker-shutdown-timeout",
            "30000",
        ]
        return [
            Sender("worker", [PY, *worker], b"is ready for action", 2, {"dramatiq_queue_prefetch": "64"}),
            Sender("relay", [PY, "-m", "django", "run_outbox_relay"]),
        ]
    if system == MAILER:
        command = "runmailer_pg" if database == "postgresql" else "runmailer"
        return [Sender(command, [PY, "-m", "django", command], b"Starting django-mailer send loop")]
    send = f"{PY} -m django send_queued_mail --processes=1"
    cron = f"while :; do {send} & sleep {cron_period}; done"  # cron's `* * * * *`: a new run every period
    return [Sender("send_queued_mail-cron", ["sh", "-c", cron])]


def environment(system: str, database: str, redis_url: str, smtp_url: str, locks: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, PACKAGE_PATHS)),
        "PYTHONUNBUFFERED": "1",
        "TEST_REDIS_URL": redis_url,
        "DRAMATIQ_NAMESPACE": NAMESPACE,
        "EMAIL_URL": smtp_url,
        "LOG_LEVEL": "INFO",
        "DJANGO_SETTINGS_MODULE": "bench.settings" if system in OURS else "bench.settings_mail_peers",
        "BENCH_MAIL_PEER": system,
        "BENCH_MAIL_LOCK_DIR": locks,
    }
    if system == OUTBOX_UNLIMITED:  # the package's SMTP token bucket (default 20/s across all workers) out of the way
        env["EMAIL_RATE_PER_S"] = "100000"
    if database == "postgresql":
        env["DATABASE_URL"] = f"{PG_URL}/mail_bench_{system}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{VAR / f'mail-bench-{system}.sqlite3'}"
    return env


def fresh_database(system: str, database: str) -> None:
    if database == "postgresql":
        import psycopg

        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS mail_bench_{system} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE mail_bench_{system}")
    else:
        for suffix in ("", "-wal", "-shm"):
            (VAR / f"mail-bench-{system}.sqlite3{suffix}").unlink(missing_ok=True)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Sink:
    """The harness's SMTP sink, read by subject."""

    def __init__(self) -> None:
        from harness.smtp_sink import SmtpSink

        self.smtp = SmtpSink()
        self.smtp.start()

    def received(self, prefix: str) -> list[tuple[str, str, float]]:
        """(subject, Message-ID, time received) of every message whose subject starts with `prefix`."""
        with self.smtp.handler.lock:
            pairs = list(zip(self.smtp.handler.messages, self.smtp.handler.times, strict=True))
        return [
            (str(m["Subject"]), str(m["Message-ID"]), at) for m, at in pairs if str(m["Subject"]).startswith(prefix)
        ]


def produce(env: dict[str, str], prefix: str, count: int, paced: bool) -> dict:
    """Send `count` emails through the producer: when each committed, and each transaction's time."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    command = [sys.executable, str(BENCH / "mail_producer.py"), path, prefix, str(count)]
    subprocess.run([*command, *(["--paced"] if paced else [])], cwd=PACKAGE, env=env, check=True)
    produced = json.loads(Path(path).read_text())
    os.unlink(path)
    return produced


def collect(sink: Sink, produced: dict, prefix: str, timeout: float) -> dict:
    """Wait for every email at the sink (then a moment more for a late duplicate); the figures."""
    committed: dict[str, float] = produced["committed"]
    try:
        wait_until(lambda: len({s for s, _, _ in sink.received(prefix + " ")}) >= len(committed), timeout, prefix)
    except RuntimeError as error:
        print(f"  {error}", flush=True)
    time.sleep(3)
    received = sink.received(prefix + " ")
    first: dict[str, float] = {}
    for subject, _, at in received:
        first[subject] = min(at, first.get(subject, at))
    delays = [(first[s] - t) * 1000 for s, t in committed.items() if s in first]
    arrivals = sorted(first.values())
    by_subject, by_id = Counter(s for s, _, _ in received), Counter(i for _, i, _ in received)
    return {
        "emails": len(committed),
        "received": len(received),
        "lost": sum(1 for s in committed if s not in first),
        "duplicates": sum(n - 1 for n in by_subject.values()),
        "duplicate_message_ids": sum(n - 1 for n in by_id.values()),
        "delay_p50_ms": statistics.median(delays) if delays else None,
        "delay_p95_ms": percentile(delays, 95) if delays else None,
        "transaction_p50_ms": statistics.median(produced["transaction_ms"]),
        "emails_per_s": (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else None,
    }


class Senders:
    """A system's sender processes, started (each waited for until ready) and stopped together."""

    def __init__(self, system: str, plan: list[Sender], env: dict[str, str]):
        self.system, self.plan, self.env = system, plan, env
        self.processes: list[Process] = []

    def start(self) -> None:
        for sender in self.plan:
            argv = [a.replace(f"{PY} -m django", f"{sys.executable} -m django") for a in sender.args]
            argv = [sys.executable if a == PY else a for a in argv]
            process = Process(argv, f"mail-{self.system}-{sender.name}", {**self.env, **sender.env})
            self.processes.append(process)
            if sender.ready:
                log = VAR / f"bench-mail-{self.system}-{sender.name}.log"
                wait_until(
                    lambda: log.read_bytes().count(sender.ready) >= sender.ready_count or not process.alive(),  # noqa: B023
                    60,
                    f"{sender.name} to start",
                )
                if not process.alive():
                    raise RuntimeError(f"{sender.name} exited: see {log}")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()


def run_system(system: str, database: str, args: argparse.Namespace, sink: Sink, redis_url: str) -> dict:
    """Idle senders (paced emails), a stream (back to back, senders running), a backlog (committed while the
    senders were stopped, then drained)."""
    locks = tempfile.mkdtemp(prefix="mail-bench-locks-")
    env = environment(system, database, redis_url, sink.smtp.url, locks)
    fresh_database(system, database)
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], cwd=PACKAGE, env=env, check=True)
    plan = senders(system, database, args.cron_period)
    running = Senders(system, plan, env)
    timeout = 2 * args.cron_period + 60 + args.emails * 0.2
    prefix = f"{system}-{database}-{int(time.time())}"
    title = f"{TITLES[system]} on {database}:"
    try:
        running.start()
        print(f"{title} {args.paced} paced emails ...", flush=True)
        paced = collect(sink, produce(env, f"{prefix}-paced", args.paced, True), f"{prefix}-paced", timeout)
        print(f"{title} a stream of {args.emails} ...", flush=True)
        stream = collect(sink, produce(env, f"{prefix}-stream", args.emails, False), f"{prefix}-stream", timeout)
        running.stop()
        print(f"{title} a backlog of {args.emails}, then the senders ...", flush=True)
        produced = produce(env, f"{prefix}-backlog", args.emails, False)
        running.start()
        backlog = collect(sink, produced, f"{prefix}-backlog", timeout)
    finally:
        running.stop()
        shutil.rmtree(locks, ignore_errors=True)
    return {"paced": paced, "stream": stream, "backlog": backlog, "senders": [s.shown() for s in plan]}


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(results: dict, database: str, systems: list[str]) -> list[str]:
    rows = [
        ("delay, commit to SMTP server, idle senders p50 (ms)", "paced", "delay_p50_ms", 0),
        ("delay, idle senders p95 (ms)", "paced", "delay_p95_ms", 0),
        ("delay during a stream p50 (ms)", "stream", "delay_p50_ms", 0),
        ("delay during a stream p95 (ms)", "stream", "delay_p95_ms", 0),
        ("emails/s arriving during the stream", "stream", "emails_per_s", 0),
        ("emails/s draining a backlog", "backlog", "emails_per_s", 0),
        ("send_mail's transaction p50 (ms, in the request)", "stream", "transaction_p50_ms", 2),
    ]
    lines = [
        "| " + database + " | " + " | ".join(TITLES[s] for s in systems) + " |",
        "|---" * (len(systems) + 1) + "|",
    ]
    for label, phase, key, digits in rows:
        cells = [fmt(results[s][phase].get(key), digits) for s in systems]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    checks = []
    for s in systems:
        phases = [results[s][phase] for phase in PHASES]
        lost, dups = sum(p["lost"] for p in phases), sum(p["duplicates"] for p in phases)
        ids = sum(p["duplicate_message_ids"] for p in phases)
        checks.append(f"{lost} / {dups} / {ids}")
    lines.append("| lost / duplicated (subject) / duplicated (Message-ID) | " + " | ".join(checks) + " |")
    return lines


def ratios(results: dict, systems: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    if OUTBOX not in systems:
        return out
    ours = results[OUTBOX]
    for peer in (s for s in systems if s not in OURS):
        theirs = results[peer]
        for phase, key, name in (("paced", "delay_p50_ms", "idle_delay_p50"), ("stream", "delay_p95_ms", "stream_p95")):
            if ours[phase].get(key) and theirs[phase].get(key) is not None:
                out[f"{name}_{peer}_over_outbox"] = theirs[phase][key] / ours[phase][key]
        for mine in (s for s in OURS if s in systems):
            drains = (results[mine]["backlog"].get("emails_per_s"), theirs["backlog"].get("emails_per_s"))
            if all(drains):
                out[f"drain_{mine}_over_{peer}"] = drains[0] / drains[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=1000, help="emails in the stream, and in the backlog")
    parser.add_argument("--paced", type=int, default=30, help="emails 0.2-1 s apart, to idle senders")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--systems", default=f"{OUTBOX},{OUTBOX_UNLIMITED},{MAILER},{POST_OFFICE}")
    parser.add_argument("--cron-period", type=int, default=60, help="seconds between send_queued_mail runs")
    args = parser.parse_args()
    ensure_bench_venv()
    use_paths(PACKAGE_PATHS)  # the harness's SMTP sink
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the senders and Redis are stopped too
    systems, databases = args.systems.split(","), args.databases.split(",")
    VAR.mkdir(exist_ok=True)

    port = free_port(6392)
    redis_dir = tempfile.mkdtemp(prefix="mail-bench-redis-")
    redis = Process(redis_command(port, redis_dir, "--appendonly", "no"), "mail-redis")
    sink = Sink()
    started_at, load_start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()[0]
    results: dict[str, dict] = {}
    try:
        wait_for_redis(port)
        for database in databases:
            results[database] = {}
            for system in systems:
                results[database][system] = run_system(system, database, args, sink, f"redis://127.0.0.1:{port}/0")
    finally:
        sink.smtp.stop()
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)

    lines = [
        f"Measured {started_at} on {os.cpu_count()} cores (load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end); one run. "
        "Command: `python3 packages/django-dramaturg/bench/mail_backends.py "
        f"--emails {args.emails} --paced {args.paced} --databases {args.databases} --cron-period {args.cron_period}`.",
        "",
    ]
    for database in databases:
        lines += [*table(results[database], database, systems), ""]
        found = ratios(results[database], systems)
        if found:
            lines += [f"{database} ratios: " + ", ".join(f"{k} = {v:.1f}" for k, v in found.items()), ""]
    lines.append("Senders:")
    for system in systems:
        shown = " + ".join(f"`{c}`" for c in results[databases[0]][system]["senders"])
        lines.append(f"- {TITLES[system]}: {shown}")
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    ratio_map = {d: ratios(results[d], systems) for d in databases}
    (RESULTS / "mail-backends.json").write_text(json.dumps({"results": results, "ratios": ratio_map}, indent=1))
    (RESULTS / "mail-backends.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
