"""Dashboard and admin page times with 1,000,000 dead letters.

    .venv/bin/python bench/dashboard.py [--messages 1000000] [--repeat 15]

Fills a Redis database of its own (BENCH_REDIS_URL, default db 14, namespace
"bench") through jobs.broker_store, then times whole requests through
Django's test client: view, Redis reads and template rendering.
"""
from __future__ import annotations

import argparse
import random
import time
import uuid

from _setup import clear_namespace, setup_django, timed

NAMESPACE = "bench"
ACTORS = ["send_welcome_email", "build_report_chunk", "sync_crm_contact"]
EXCEPTIONS = ["SMTPDataError", "ConnectionRefusedError", "TimeoutError", "ValueError"]


def fill(count: int) -> float:
    from jobs import broker_store

    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    rng = random.Random(7)
    pipe = broker_store.client().pipeline(transaction=False)
    for i in range(count):
        actor, exception = rng.choice(ACTORS), rng.choice(EXCEPTIONS)
        data = {
            "queue_name": "emails", "actor_name": actor, "args": [i], "kwargs": {},
            "message_id": str(uuid.uuid4()), "message_timestamp": now_ms - count + i,
            "options": {"retries": 8, "exception_type": exception, "dead_letter_reason": f"{exception}: failed",
                        "traceback": f"Traceback (most recent call last):\n  ...\n{exception}: failed"},
        }
        broker_store.add_dead_letter("emails", str(uuid.uuid4()), data, now_ms - count + i, pipe)
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the data for another run")
    args = parser.parse_args()
    setup_django(NAMESPACE)

    from django.test import Client

    from accounts.models import User
    from jobs import broker_store

    if broker_store.count_dead("emails") != args.messages:
        clear_namespace(NAMESPACE)
        print(f"filling {args.messages:,} dead letters ...", flush=True)
        seconds = fill(args.messages)
        print(f"filled in {seconds:.1f} s ({args.messages / seconds:,.0f} letters/s)")
    memory = broker_store.client().info("memory")["used_memory_human"]
    print(f"Redis used_memory: {memory}")

    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    deep = broker_store.client().zrevrange(broker_store.dead_key("emails"), args.messages // 2,
                                           args.messages // 2, withscores=True)[0]
    deep_cursor = f"{int(deep[1])}:emails/{deep[0].decode()}"
    one = broker_store.page_dead("emails", limit=1).messages[0]

    pages = {
        "overview /jobs/": "/jobs/",
        "overview.json": "/jobs/overview.json",
        "dead letters, page 1": "/jobs/dead/",
        f"dead letters, page at {args.messages // 2:,}": f"/jobs/dead/?queue=emails&older={deep_cursor}",
        "filter actor (4 groups)": "/jobs/dead/?actor=send_welcome_email",
        "filter actor + exception": "/jobs/dead/?actor=send_welcome_email&exception=TimeoutError",
        "filter actor, next page": None,
        "dead letter detail": f"/jobs/dead/emails/{one.redis_id}/",
        "queue detail": "/jobs/queues/emails/",
        "admin failed messages": "/admin/jobs/failedmessage/",
        "admin, filter exception": "/admin/jobs/failedmessage/?exception=ValueError",
    }
    second = broker_store.page_dead(actor="send_welcome_email", limit=50).older
    pages["filter actor, next page"] = f"/jobs/dead/?actor=send_welcome_email&older={second}"

    print(f"\n{args.messages:,} dead letters; median (min-max) of {args.repeat} requests, ms")
    print(f"{'page':34} {'median':>8} {'min':>8} {'max':>8}")
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        median, low, high = timed(lambda: client.get(url), args.repeat)
        print(f"{name:34} {median:8.1f} {low:8.1f} {high:8.1f}")
    if not args.keep:
        clear_namespace(NAMESPACE)


if __name__ == "__main__":
    main()
