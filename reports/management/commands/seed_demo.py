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
        roll = rng.random()
        delivery = EmailDelivery(user=user, attempts=1)
        if roll < 0.90:
            delivery.status = EmailDelivery.Status.SENT
            delivery.sent_at = min(user.date_joined + timedelta(seconds=int(rng.expovariate(1 / 20)) + 1), now)
        elif roll < 0.93:
            delivery.status, delivery.attempts, delivery.last_error = EmailDelivery.Status.FAILED, 9, "SMTPDataError"
        else:
            delivery.attempts = 0
        return delivery
