"""Real processes for integration tests: Django commands (workers, scheduler, web) and redis-servers.

Commands run as `python -m django <command>` under the running settings module, from settings.BASE_DIR,
with this harness's directory on PYTHONPATH: the same for the reference project and the package's host.

Importable without Django settings: upstream/dramatiq_suite/run.py starts its RedisServer outside Django."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

import redis
from django.conf import settings
from django.db import connection

HARNESS_ROOT = Path(__file__).resolve().parent.parent  # the directory that holds harness/ (and the host project)


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rpartition(")")[2].split()[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def _all_threads_stopped(pids: Sequence[int]) -> bool:
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError, IndexError):  # a thread or process that ended meanwhile
                if stat.read_text().rpartition(")")[2].split()[0] not in "TtZX":
                    return False
    return True


def stop_and_wait(pid: int, *, group: bool = False) -> None:
    """SIGSTOP process `pid` (or its whole process group) and return once every thread of it is stopped.

    kill() only queues the signal: one thread is woken to stop the others, and until it gets a CPU, a
    thread woken by I/O (a worker's SMTP reply) may run on. A loaded machine made that a window of
    milliseconds in which a "paused" worker marked its email sent."""
    (os.killpg if group else os.kill)(pid, signal.SIGSTOP)
    members = _group_members(pid) if group else [pid]
    wait_for(
        lambda: _all_threads_stopped(members),
        timeout=10,
        interval=0.001,
        what=f"every thread of {'group ' if group else ''}{pid} to stop",
    )


def test_database_url() -> str:
    """A DATABASE_URL that points a child process at the test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE")
        or settings.SETTINGS_MODULE,  # None under override_settings
        DATABASE_URL=test_database_url(),
        PYTHONPATH=os.pathsep.join([str(HARNESS_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


class ManagedProcess:
    """A Django command in its own process group, logging to a file under BASE_DIR/test-artifacts/."""

    _count = 0

    def __init__(self, args: list[str], env: dict[str, str], ready_marker: bytes, name: str):
        ManagedProcess._count += 1
        artifacts = Path(settings.BASE_DIR) / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        self.log_path = artifacts / f"{name}-{os.getpid()}-{ManagedProcess._count}.log"
        self.command = args[0]
        self.args = [sys.executable, "-m", "django", *args]
        self.env = env
        self.ready_marker = ready_marker
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> ManagedProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115  # the process's log, closed in stop()
        proc = self.proc = subprocess.Popen(
            self.args,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            lambda: self.ready_marker in self.log_path.read_bytes() or proc.poll() is not None,
            timeout,
            what=f"{self.command} to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.command} exited at start:\n{self.log_tail()}")
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def signal(self, sig: int, *, group: bool = False) -> None:
        """Signal the main process (which relays to its children) or the whole group.

        A second SIGTERM makes a dramatiq worker process quit at once, so SIGTERM
        goes to the main process only.
        """
        if self.proc and self.proc.poll() is None:
            if sig == signal.SIGSTOP:
                stop_and_wait(self.proc.pid, group=group)
            else:
                (os.killpg if group else os.kill)(self.proc.pid, sig)

    def stop(self, timeout: float = 20) -> int | None:
        """A graceful stop (SIGTERM), killed after `timeout` seconds."""
        self.signal(signal.SIGTERM)
        return self._reap(time.monotonic() + timeout)

    def kill(self) -> int | None:
        """Kill the whole group at once: for a teardown that is not about a graceful shutdown."""
        self.signal(signal.SIGKILL, group=True)
        return self._reap(time.monotonic() + 5)

    def _reap(self, deadline: float) -> int | None:
        if self.proc is None:
            return None
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL, group=True)
            self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # nothing of the group outlives the test
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def stop_all(processes: Sequence[ManagedProcess], *, graceful: bool = False, timeout: float = 20) -> None:
    """Stop processes together: every one signalled first, then all reaped against one deadline.
    Killed outright unless `graceful` (SIGTERM, then killed after `timeout`): an idle worker takes
    seconds to finish a graceful shutdown, which a teardown need not wait for."""
    started = [p for p in processes if p.proc is not None]
    for process in started:
        if graceful:
            process.signal(signal.SIGTERM)
        else:
            process.signal(signal.SIGKILL, group=True)
    deadline = time.monotonic() + (timeout if graceful else 5)
    for process in started:
        process._reap(deadline)


def WorkerProcess(
    env: dict[str, str], *, processes: int = 1, threads: int = 2, queues: list[str] | None = None
) -> ManagedProcess:
    """`rundramatiq`."""
    args = [
        "rundramatiq",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        "10000",
    ] + (["--queues", *queues] if queues else [])
    return ManagedProcess(args, env, b"is ready for action", "worker")


def SchedulerProcess(env: dict[str, str]) -> ManagedProcess:
    """`runperiodiq`."""
    return ManagedProcess(["runperiodiq"], env, b"Registered periodic actors", "scheduler")


class ProcessStack:
    """Web (`runserver`), worker(s) and the outbox relay as separate processes on one environment,
    each started on demand and all stopped together."""

    def __init__(self, env: dict[str, str]):
        from harness.smtp_sink import free_port

        self.env = env
        self.port = free_port()
        self.processes: list[ManagedProcess] = []

    def _start(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        return process.start()

    def web(self) -> ManagedProcess:
        return self._start(
            ManagedProcess(["runserver", f"127.0.0.1:{self.port}", "--noreload"], self.env, b"Quit the server", "web")
        )

    def worker(self, threads: int = 2) -> ManagedProcess:
        return self._start(WorkerProcess(self.env, threads=threads, queues=["emails"]))

    def relay(self) -> ManagedProcess:
        return self._start(
            ManagedProcess(["run_outbox_relay", "--interval", "0.2"], self.env, b"Outbox relay started", "relay")
        )

    def stop(self) -> None:
        stop_all(self.processes)


class RedisServer:
    """A redis-server of the test's own on a free port, in its own process group, which the test may
    stop, kill, pause (SIGSTOP) and restart on the same port and directory.

    Loopback only (`bind`), no RDB snapshots, data and log in `directory`; AOF on (fsync `appendfsync`)
    unless `appendonly=False`. `options` are further redis-server arguments (e.g. "--replicaof", host, port).
    """

    def __init__(
        self,
        directory: Path,
        *options: str,
        appendonly: bool = True,
        appendfsync: str = "always",
        bind: Sequence[str] = ("127.0.0.1",),
    ):
        from harness.ports import reserve_port

        self.port = reserve_port()
        self.directory = directory
        self.options = list(options)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.bind = list(bind)
        self.proc: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def client(self, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=2, **options)

    def command(self) -> list[str]:
        return [
            "redis-server",
            "--bind",
            *self.bind,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_path),
            *self.options,
        ]

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.command(), start_new_session=True)
        client = self.client()

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 15, what=f"{self.name} to answer")
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc and self.alive:
            if sig == signal.SIGSTOP:
                stop_and_wait(self.proc.pid)
            else:
                self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc and self.alive:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): with AOF on, what was written is on disk."""
        if self.proc and self.alive:
            self.signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
