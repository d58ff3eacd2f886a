"""Stock Dramatiq (its RedisBroker, its default middleware) with a plain `send_mail` actor, for
bench/welcome_email.py: `python -m dramatiq bench.welcome_stock --queues welcome`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_welcome_peer")

import django

django.setup()

import dramatiq  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402

from bench import welcome_jobs  # noqa: E402

dramatiq.set_broker(RedisBroker(url=f"{os.environ.get('BENCH_SYSTEM_URL', 'redis://127.0.0.1:6390')}/3"))


@dramatiq.actor(queue_name="welcome", max_retries=0)
def send_welcome_email(user_id: int) -> None:
    welcome_jobs.send_welcome_email(user_id)
