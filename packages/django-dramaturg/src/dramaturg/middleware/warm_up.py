"""A worker process's one-time work, done at boot (`DRAMATURG["WORKER"]["WARM_UP"]`)."""

from __future__ import annotations

import logging
import time

from django.db import connections
from django.utils.module_loading import import_string
from dramatiq.broker import Broker
from dramatiq.middleware import Middleware

from dramaturg import conf

logger = logging.getLogger(__name__)


class WarmUp(Middleware):
    """Runs each callable `DRAMATURG["WORKER"]["WARM_UP"]` names once in each worker process, after its
    modules are imported and before its threads take a message: what every job of the process needs once
    (templates compiled, translation catalogs loaded, URLs resolved) is not paid by its first jobs, nor
    by all of its threads at once. A warm-up that fails is logged; the worker starts all the same (the
    jobs that need it will fail, and say why)."""

    def after_process_boot(self, broker: Broker) -> None:
        for dotted in conf.settings.WORKER.WARM_UP:
            started = time.monotonic()
            try:
                import_string(dotted)()
            except Exception:
                logger.exception("Warm-up %s failed; the worker starts without it", dotted)
            else:
                logger.info("Warm-up %s done in %.0f ms", dotted, (time.monotonic() - started) * 1000)
        connections.close_all()  # one a warm-up opened belongs to this boot thread, which runs no job
