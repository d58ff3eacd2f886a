"""Processes of the chaos soak: each in its own process group, logging to a file of the run,
killed (the whole group) when the soak ends, however it ends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_ALL: list[Proc] = []
_ALL_LOCK = threading.Lock()


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it is true or `timeout` passes; returns whether it came true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class StartFailed(RuntimeError):
    pass


class Proc:
    """One long-running command, restartable. `ready` is a log marker or a predicate."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path, ready: bytes | Callable[[], bool]
    ):
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.popen: subprocess.Popen | None = None
        self.starts = 0
        self.started_ok = False  # the last start reached ready
        # Held by whoever kills or restarts it, so the supervisor never races the chaos schedule.
        self.lock = threading.RLock()
        # False while the soak has it down on purpose.
        self.expected_up = False
        with _ALL_LOCK:
            _ALL.append(self)

    @property
    def tag(self) -> str:
        """This incarnation: name and start number."""
        return f"{self.name}#{self.starts}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, timeout: float = 40) -> Proc:
        self.starts += 1
        self.started_ok = False
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== chaos: start {self.starts} at {time.strftime('%H:%M:%S')} ===\n".encode())
            offset = log.tell()
            popen = self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        def is_ready() -> bool:
            if popen.poll() is not None:
                return True
            if isinstance(self.ready, bytes):
                with open(self.log_path, "rb") as log:
                    log.seek(offset)
                    return self.ready in log.read()
            return self.ready()

        if not wait_until(is_ready, timeout, 0.05) or popen.poll() is not None:
            self.kill_group()
            raise StartFailed(f"{self.name} did not start (exit {popen.returncode}); see {self.log_path}")
        self.expected_up = self.started_ok = True
        return self

    def send(self, sig: int, *, group: bool) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(self.popen.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the whole group (nothing of it outlives this) and reap the main process."""
        popen = self.popen
        if popen is None:
            return
        self.send(signal.SIGKILL, group=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(10)

    def terminate(self, timeout: float) -> bool:
        """SIGTERM the main process (it relays to its children); SIGKILL the group if it
        has not exited within `timeout`. Returns True if it exited on its own."""
        popen = self.popen
        if popen is None or popen.poll() is not None:
            self.kill_group()
            return True
        self.send(signal.SIGTERM, group=False)
        try:
            popen.wait(timeout)
            graceful = True
        except subprocess.TimeoutExpired:
            graceful = False
        self.kill_group()
        return graceful


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


_ONE_OFF: set[subprocess.Popen] = set()


def run_once(args: list[str], env: dict[str, str], log_path: Path, timeout: float) -> tuple[int | None, str]:
    """Run a command to completion in its own process group, appending its output to
    `log_path`; returns (exit code, or None if it timed out and was killed; output)."""
    popen = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    with _ALL_LOCK:
        _ONE_OFF.add(popen)
    try:
        output, _ = popen.communicate(timeout=timeout)
        code: int | None = popen.returncode
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        output, _ = popen.communicate()
        code = None
    finally:
        with _ALL_LOCK:
            _ONE_OFF.discard(popen)
    text = output.decode(errors="replace")
    with open(log_path, "a") as log:
        log.write(f"\n=== chaos: {' '.join(args[1:])} at {time.strftime('%H:%M:%S')} -> {code} ===\n{text}")
    return code, text


def kill_all() -> None:
    """SIGKILL every process group the soak started. Idempotent; safe from atexit."""
    with _ALL_LOCK:
        procs = list(_ALL)
        one_off = list(_ONE_OFF)
    for popen in one_off:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
    for proc in procs:
        proc.expected_up = False
        proc.kill_group()
