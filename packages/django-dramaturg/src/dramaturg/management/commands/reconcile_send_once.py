"""Re-enqueue every owed send-once row of the project: the database, not Redis, says what is owed."""

from __future__ import annotations

from datetime import timedelta

import redis
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from dramatiq.errors import BrokerConnectionError

from dramaturg import conf, sendonce
from dramaturg.models import SendOnceRow


class Command(BaseCommand):
    help = (
        "Re-enqueues the job of every row of every SendOnceRow model (outbox emails, health alerts, the host's own) "
        "not sent, not finally failed and not being sent, older than DRAMATURG['SEND_ONCE']['RECONCILE_AFTER_S'] "
        "(or --older-than); prints how many. Extra jobs are harmless: each finds its row sent or claimed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=float, default=None, metavar="SECONDS")

    def handle(self, older_than: float | None, **options) -> None:
        seconds = conf.settings.SEND_ONCE.RECONCILE_AFTER_S if older_than is None else older_than
        if seconds < 0:
            raise CommandError("--older-than must be 0 or more seconds")
        models = [m for m in apps.get_models() if issubclass(m, SendOnceRow)]
        try:
            count = sum(sendonce.enqueue_owed(m._default_manager.all(), timedelta(seconds=seconds)) for m in models)
        except (redis.RedisError, BrokerConnectionError) as error:
            raise CommandError(f"Redis is unreachable; what was not re-enqueued stays owed: {error}") from None
        self.stdout.write(f"Re-enqueued {count} owed row(s).")
