"""Bounded work: shed a request past capacity with a fast 503 instead of queueing it until its client gives up.

A CPU-heavy step of a view (a password hash, a PDF) is wrapped in `bounded("name")`: at most
`DRAMATURG["WEB"]["BOUNDED_SLOTS"]["name"]` requests of this process run it at once. A request that finds
every slot taken waits up to `WEB.BOUNDED_WAIT_S` for one, then raises `Overloaded`, which
`ServiceUnavailableMiddleware` answers with 503 and `Retry-After: WEB.OVERLOADED_RETRY_AFTER_S` (JSON on the API,
a page in the request's language otherwise). A name without slots runs unbounded.

The slots are per process (a threading semaphore): a server of N processes runs at most N x slots of the
step at once, so each process's threads keep answering (202s and 503s) instead of all waiting on a core.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dramaturg import conf

_semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_lock = threading.Lock()


class Overloaded(Exception):
    """No slot of the bounded step `name` came free within `WEB.BOUNDED_WAIT_S`: nothing was done."""

    def __init__(self, name: str):
        super().__init__(f"every slot of {name!r} is taken")
        self.name = name


def _semaphore(name: str) -> threading.BoundedSemaphore | None:
    slots = conf.settings.WEB.BOUNDED_SLOTS.get(name)
    if not slots:
        return None
    with _lock:  # one semaphore per (name, slots): a settings change gets a new one
        return _semaphores.setdefault((name, slots), threading.BoundedSemaphore(slots))


@contextmanager
def bounded(name: str) -> Iterator[None]:
    """Run the block holding one of the process's `name` slots; raise `Overloaded` if none is free within
    `WEB.BOUNDED_WAIT_S` (before the block runs: raise it before anything is written)."""
    semaphore = _semaphore(name)
    if semaphore is None:
        yield
        return
    if not semaphore.acquire(timeout=conf.settings.WEB.BOUNDED_WAIT_S):
        raise Overloaded(name)
    try:
        yield
    finally:
        semaphore.release()
