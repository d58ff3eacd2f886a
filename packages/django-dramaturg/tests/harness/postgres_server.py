"""A PostgreSQL server of the test's own, like harness.processes.RedisServer: a cluster initdb'd in a temporary
directory, on a free loopback port, which a test may stop (fast shutdown), kill and restart on the same port and
directory, so a real database can go away under real processes.

Importable without Django settings. initdb and postgres refuse to run as root: as root they run as the `postgres`
OS user (`runuser -u postgres --` for initdb, the server's own process started under that user), in a directory
that user owns. Trust authentication, loopback only, fsync off (a test kills processes, not the machine)."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

OWNER = "postgres"


def binaries_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory with initdb and postgres, or None."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bin_dir in reversed(candidates):
        if (bin_dir / "postgres").exists():
            return bin_dir
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).parent
    return None


def unavailable_reason() -> str | None:
    """Why a test cannot start its own PostgreSQL here, or None if it can."""
    if binaries_dir() is None:
        return "PostgreSQL server binaries (initdb, postgres) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OWNER)
        except KeyError:
            return f"running as root and there is no {OWNER!r} OS user to run PostgreSQL as"
    return None


def _free_port() -> int:
    """A port reserved for this test process (tests/ports.py): nothing takes it between the choice and
    the server's bind, nor while a test has the server stopped to restart it on the same port."""
    from harness.ports import reserve_port

    return reserve_port()


class PostgresServer:
    """`start()` initdb's the cluster on first use; `stop()` is a fast shutdown (SIGINT: sessions are cut, what
    was committed is kept); `kill()` is SIGKILL of the postmaster and its backends (crash recovery on the next
    start); `restart()` stops and starts on the same port and directory; `close()` stops and removes the directory.
    """

    def __init__(self, directory: Path | None = None):
        bin_dir = binaries_dir()
        if bin_dir is None:
            raise RuntimeError(unavailable_reason())
        self.bin_dir = bin_dir
        self.root = Path(directory or tempfile.mkdtemp(prefix="test-postgres-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._as_root = os.geteuid() == 0
        atexit.register(self.close)  # no stray postmaster, whatever happens to the test run

    # -- running things as the owner
    def _owner_ids(self) -> tuple[int, int]:
        entry = pwd.getpwnam(OWNER)
        return entry.pw_uid, entry.pw_gid

    def _popen_options(self) -> dict[str, Any]:
        if not self._as_root:
            return {}
        uid, gid = self._owner_ids()
        return {"user": uid, "group": gid, "extra_groups": []}

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _initdb(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            uid, gid = self._owner_ids()
            os.chown(self.root, uid, gid)
        command = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        command += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        if self._as_root:
            command = ["runuser", "-u", OWNER, "--", *command]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def command(self) -> list[str]:
        return [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.root),  # the Unix socket stays in our directory
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
        ]

    # -- lifecycle
    def start(self, timeout: float = 60) -> Self:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        log = open(self.log_path, "ab")  # noqa: SIM115  # inherited by the server; ours closed at once
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the backends too
                **self._popen_options(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not answer in {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT): open sessions are cut, committed work stays."""
        if self.proc and self.alive:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL to the postmaster and every backend (its process group)."""
        if self.proc and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        """Backends orphaned by a killed postmaster hold its shared memory and would stop a restart."""
        if self.proc is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its directory (idempotent)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases
    def create_database(self, name: str) -> str:
        """A new empty database (dropped first if it exists); returns its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
