"""TCP ports for the servers a test starts (redis-server, SMTP sinks, runserver), reserved until the
test process exits, so that nothing else takes one between the choice and the bind, or while a test
has its server stopped to restart it on the same port.

A port comes from below the kernel's ephemeral range (net.ipv4.ip_local_port_range): the kernel
never hands those out, neither for `bind(("", 0))` nor for outgoing connections. Among the test
processes of this machine (xdist workers, other checkouts' suites) a port is claimed by an exclusive
lock on a file named for it (per OS user), held until the process that reserved it exits; a port
that something else listens on already is passed over.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path
from typing import IO

LOCKS = Path(tempfile.gettempdir()) / f"dramatiq-test-ports-{os.getuid()}"  # another user's are not ours to open
_held: list[IO[str]] = []  # open lock files: a reservation lasts as long as this process


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reserve_port() -> int:
    """A loopback TCP port no other process (test or not) is using or will be given by the kernel."""
    LOCKS.mkdir(exist_ok=True)
    low, high = 20000, min(_ephemeral_start(), 32768)
    first = random.randrange(low, high)
    for offset in range(high - low):
        port = low + (first - low + offset) % (high - low)
        lock = open(LOCKS / str(port), "w")  # noqa: SIM115  # held open: the reservation
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        if _bindable(port):
            lock.write(str(os.getpid()))
            lock.flush()
            _held.append(lock)
            return port
        lock.close()
    raise RuntimeError(f"no free port between {low} and {high}")
