"""The shared body of pause_queue and resume_queue."""

from __future__ import annotations

import redis
from django.core.management.base import BaseCommand, CommandError

from dramaturg import actions
from dramaturg.store import queues
from dramaturg.store.keys import QUEUE_NAME_RE


class QueueControlCommand(BaseCommand):
    paused: bool

    def add_arguments(self, parser) -> None:
        parser.add_argument("queue", help="the queue's name, e.g. emails")
        parser.add_argument("--force", action="store_true", help="also for a queue no process has declared")

    def handle(self, *, queue: str, force: bool, **options) -> None:
        if not QUEUE_NAME_RE.fullmatch(queue):
            raise CommandError(f"Not a queue name: {queue!r}")
        try:
            known = queues.queue_names()
            if queue not in known and not force:
                raise CommandError(f"Unknown queue {queue!r} (known: {', '.join(known)}); --force to go on anyway")
            entry = actions.set_paused(None, queue, self.paused)
        except redis.RedisError as error:
            raise CommandError(f"Redis is unreachable: {error}")
        self.stdout.write(actions.outcome_text(entry))
