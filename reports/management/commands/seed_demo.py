"""Realistic synthetic users, logins and welcome-email deliveries over recent weeks, by bulk insert."""

import random
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import EmailDelivery, LoginEvent, User

BATCH = 5_000


class Command(BaseCommand):
    help = "seed_demo --users N [--days 28] [--seed 1]: demo users (no emails are sent for them)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, required=True)
        parser.add_argument("--days", type=int, default=28)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, users: int, days: int, seed: int, **options) -> None:
        rng = random.Random(seed)
        started = time.perf_counter()
        now = timezone.now().replace(microsecond=0)
        first = now - timedelta(days=days)
        span = int((now - first).total_seconds())
        start_index = User.objects.count()
        made = logins = 0
        for batch_start in range(0, users, BATCH):
            size = min(BATCH, users - batch_start)
            with transaction.atomic():
                # bulk_create sends no post_save: demo users get no welcome email job.
                batch = User.objects.bulk_create(
                    [
                        User(
                            email=f"demo-{seed}-{start_index + batch_start + i}@example.com",
                            password="!",
                            date_joined=first + timedelta(seconds=rng.randrange(span)),
                        )
                        for i in range(size)
                    ]
                )
                deliveries, events = [], []
                for user in batch:
                    deliveries.append(self._delivery(rng, user, now))
                    for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
                        at = user.date_joined + timedelta(seconds=rng.randrange(1, 10 * 86400))
                        if at < now:
                            events.append(LoginEvent(user=user, at=at))
                EmailDelivery.objects.bulk_create(deliveries, batch_size=BATCH)
                LoginEvent.objects.bulk_create(events, batch_size=BATCH)
            made += size
            logins += len(events)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"seeded {made} users, {logins} logins and {made} deliveries in {seconds:.1f}s "
            f"({made / seconds:,.0f} users/s)"
        )

    @staticmethod
    def _delivery(rng: random.Random, user: User, now) -> EmailDelivery:
        """A settled welcome email, as the worker would have left it: sent (most in seconds, some after a
        few retries in minutes) or failed for good. None is owed: the reconciler sends nothing for demo users
        (dramaturg.sendonce.owed), and the reports' delays stay those of a working mail server."""
        roll = rng.random()
        delivery = EmailDelivery(user=user, attempts=1, created_at=user.date_joined)
        if roll < 0.97:
            if roll < 0.91:
                delay = rng.expovariate(1 / 4) + 1  # the first attempt: a few seconds
            else:
                delivery.attempts = rng.randint(2, 4)  # retried with backoff: minutes
                delay = rng.uniform(30, 15 * 60)
            delivery.status = EmailDelivery.Status.SENT
            delivery.sent_at = min(user.date_joined + timedelta(seconds=int(delay)), now)
        else:  # an address no server takes: failed for good, never retried
            delivery.status, delivery.failure = EmailDelivery.Status.FAILED, EmailDelivery.Failure.PERMANENT
            delivery.last_error = "SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable"
        return delivery
