"""Re-enqueue every owed email: the database, not Redis, says what is owed."""

from __future__ import annotations

from datetime import timedelta

import redis
from django.core.management.base import BaseCommand, CommandError, CommandParser
from dramatiq.errors import BrokerConnectionError

from accounts.tasks import enqueue_owed
from dramaturg import conf


class Command(BaseCommand):
    help = (
        "Re-enqueues every email not sent, not finally failed and not being sent, older than "
        "DRAMATURG['SEND_ONCE']['RECONCILE_AFTER_S'] (or --older-than); prints how many. Extra jobs are harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="age of the owed emails to re-enqueue (default: DRAMATURG['SEND_ONCE']['RECONCILE_AFTER_S'], "
            f"{conf.settings.SEND_ONCE.RECONCILE_AFTER_S})",
        )

    def handle(self, older_than: float | None, **options) -> None:
        seconds = conf.settings.SEND_ONCE.RECONCILE_AFTER_S if older_than is None else older_than
        if seconds < 0:
            raise CommandError("--older-than must be 0 or more seconds")
        try:
            count = enqueue_owed(timedelta(seconds=seconds))
        except (redis.RedisError, BrokerConnectionError) as error:
            raise CommandError(
                f"Redis is unreachable; what was not re-enqueued stays owed, run again later: {error}"
            ) from None
        self.stdout.write(f"Re-enqueued {count} owed email(s).")
