"""Dispatch outbox rows whose after-commit dispatch did not happen (Redis down, process killed).

It outlives outages of both Redis and the database: a failed attempt is logged and retried with backoff, and
a database connection broken by the failure is reset before the next (jobs.dbconnections)."""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand

from jobs import dbconnections, outbox

logger = logging.getLogger("jobs.outbox.relay")


class Command(BaseCommand):
    help = "Runs the outbox relay: dispatches pending outbox messages, oldest first, with backoff."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between idle polls")
        parser.add_argument("--once", action="store_true", help="one pass, then exit")

    def handle(self, interval: float, once: bool, **options) -> None:
        logger.info("Outbox relay started")
        failures = 0
        last_prune = 0.0
        while True:
            try:
                sent = outbox.relay_once()
                if sent:
                    logger.info("Relayed %d outbox message(s)", sent)
                if failures:
                    logger.info("Outbox relay recovered after %d failed attempt(s)", failures)
                failures = 0
                if time.monotonic() - last_prune > 3600:
                    outbox.prune()
                    last_prune = time.monotonic()
            except Exception as error:
                failures += 1
                sent = 0
                logger.warning("Outbox relay attempt %d failed, work kept for the next: %s", failures, error)
                dbconnections.reset_after(error)
            if once:
                return
            time.sleep(min(interval * 2**failures, 30) if failures else (0 if sent >= 500 else interval))
