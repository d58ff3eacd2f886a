"""A worker's graceful stop waits its whole `--worker-shutdown-timeout`, as Dramatiq documents.

Written against dramatiq 2.2.1: `Worker.stop` joins its worker threads with `dramatiq.common.join_all`,
which takes the time already spent off the remaining budget at every thread, on top of what it took off
before (`timeout = max(0, timeout - elapsed)`, `elapsed` counted from the start). Threads that finish one
after another use the budget up several times over: measured in the chaos soak, a 5 s timeout gave up
after 2.2 s, and the job it left in the middle of its SMTP exchange was sent again by the next worker.
`install()` gives `dramatiq.worker` a `join_all` with one deadline for all; tests/upstream/test_pins.py
pins both upstream functions, tests/unit/test_shutdown_budget.py shows the difference.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any


def join_all(joinables: Iterable[Any], timeout: int) -> None:
    """Join each of `joinables` within one deadline, `timeout` milliseconds from now."""
    deadline = time.monotonic() + timeout / 1000
    for joinable in joinables:
        joinable.join(timeout=max(0.0, deadline - time.monotonic()))


def install() -> None:
    """Make `dramatiq.worker.Worker.stop` join its threads with `join_all` (idempotent)."""
    import dramatiq.worker

    dramatiq.worker.join_all = join_all  # the name Worker.stop calls
