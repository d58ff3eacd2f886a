"""A worker process's graceful stop: one stop per signal burst (signalled twice at once, it still shuts
down gracefully), and the whole shutdown timeout given to the jobs in progress."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from dramatiq.broker import Broker
from dramatiq.middleware import Middleware

from dramaturg import shutdown_budget

logger = logging.getLogger(__name__)


class OneStopPerSignalBurst(Middleware):
    """Dramatiq's worker process takes a second SIGTERM as "kill now". A supervisor that signals the
    whole process group (honcho, which `make run` uses; systemd's default KillMode=control-group)
    reaches each worker process twice at once: directly, and relayed by the main process. So every
    restart killed the jobs in progress and left the worker "lost" on the console.

    A repeat within `REPEAT_WITHIN_S` of the first signal is the same stop and is ignored; a later
    one still kills at once, as Dramatiq's own handler decides. Installed in each worker process's
    main thread at boot, over the handler Dramatiq set there.

    At the process's boot it also gives the stop its whole `--worker-shutdown-timeout` for the jobs in
    progress (`dramaturg.shutdown_budget`).
    """

    REPEAT_WITHIN_S = 2.0

    def after_process_boot(self, broker: Broker) -> None:
        # Dramatiq's worker process: its Worker.stop gave up on running jobs before the timeout it was given.
        shutdown_budget.install()

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # a worker started by a test or a script: not the process's own stop
        dramatiq_handler = signal.getsignal(signal.SIGTERM)
        if not callable(dramatiq_handler):
            return  # no handler of Dramatiq's: not a `dramatiq` worker process
        first: float | None = None

        def once(signum: int, frame: FrameType | None) -> None:
            nonlocal first
            now = time.monotonic()
            if first is not None and now - first < self.REPEAT_WITHIN_S:
                logger.info("Signal %s repeated at once (the whole process group was signalled): one stop", signum)
                return
            first = first if first is not None else now
            dramatiq_handler(signum, frame)

        signal.signal(signal.SIGTERM, once)
