"""Dashboard and admin page times with 1,000,000 dead letters, and with 50 letters of 2 MB.

    .venv/bin/python packages/django-dramaturg/bench/dashboard.py [--messages 1000000] [--repeat 15] [--large-mb 2]

On the host project of the package's tests (bench/settings.py). Fills a Redis database of its own
(BENCH_REDIS_URL, default db 14, namespace "bench") as the broker's nack and
dramaturg.store.dead_letters.record_dead_letter would, then times whole requests through Django's
test client: view, Redis reads and template rendering. The large letters go to a queue of their own
("large"); their list page must render in well under 100 ms (it reads previews,
never the bodies).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*

from bench._setup import clear_namespace, setup_django, superuser, timed

NAMESPACE = "bench"
ACTORS = ["send_welcome_email", "build_report_chunk", "sync_crm_contact"]
EXCEPTIONS = ["SMTPDataError", "ConnectionRefusedError", "TimeoutError", "ValueError"]


def add_dead_letter(
    queue: str, redis_id: str, data: dict[str, Any], dead_at_ms: int, pipe, *, preview: bool = True
) -> None:
    """Queue on `pipe` what the broker's nack and then `record_dead_letter` write for a dead letter;
    `preview=False` writes only the broker's part (a letter filed before previews existed)."""
    from dramaturg.store import dead_letters, keys
    from dramaturg.store.messages import exception_type_of

    body = json.dumps(data, separators=(",", ":")).encode()
    pipe.zadd(keys.dead_key(queue), {redis_id: dead_at_ms})
    pipe.hset(keys.dead_messages_key(queue), redis_id, body)
    if preview:
        dead_letters.record_dead_letter(
            queue, redis_id, body, data.get("actor_name", ""), exception_type_of(data), pipe=pipe
        )


def letter(i: int, actor: str, exception: str, now_ms: int, count: int, args: list) -> dict[str, Any]:
    return {
        "queue_name": "emails",
        "actor_name": actor,
        "args": args,
        "kwargs": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": now_ms - count + i,
        "options": {
            "retries": 8,
            "exception_type": exception,
            "dead_letter_reason": f"{exception}: failed",
            "traceback": f"Traceback (most recent call last):\n  ...\n{exception}: failed",
        },
    }


def fill(count: int) -> float:
    from dramaturg.store.connection import client
    from dramaturg.timeutil import now_ms as clock

    started = time.perf_counter()
    now_ms = clock()
    rng = random.Random(7)
    pipe = client().pipeline(transaction=False)
    for i in range(count):
        actor, exception = rng.choice(ACTORS), rng.choice(EXCEPTIONS)
        data = letter(i, actor, exception, now_ms, count, [i])
        add_dead_letter("emails", str(uuid.uuid4()), data, now_ms - count + i, pipe)
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def fill_large(count: int, megabytes: float, *, preview: bool) -> float:
    """`count` letters of `megabytes` each on the queue "large" (or "large-old": filed without previews)."""
    from dramaturg.store.connection import client
    from dramaturg.timeutil import now_ms as clock

    started = time.perf_counter()
    now_ms = clock()
    blob = "x" * int(megabytes * 1_000_000)
    queue = "large" if preview else "large-old"
    for i in range(count):
        pipe = client().pipeline(transaction=False)
        data = {**letter(i, "import_contacts", "ValueError", now_ms, count, [i, blob]), "queue_name": queue}
        add_dead_letter(queue, str(uuid.uuid4()), data, now_ms - count + i, pipe, preview=preview)
        pipe.execute()
    return time.perf_counter() - started


def time_pages(client, pages: dict[str, str], repeat: int) -> None:
    print(f"{'page':34} {'median':>8} {'min':>8} {'max':>8}")
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        median, low, high = timed(lambda url=url: client.get(url), repeat)
        print(f"{name:34} {median:8.1f} {low:8.1f} {high:8.1f}")


def bench_large(client, count: int, megabytes: float, repeat: int) -> None:
    """A page of `count` letters of `megabytes` each: with previews, and filed without them."""
    import resource

    from dramaturg.store.dead_letters import page_dead
    from dramaturg.store.filters import MessageFilter

    seconds = fill_large(count, megabytes, preview=True) + fill_large(count, megabytes, preview=False)
    print(f"\n{count} letters of {megabytes:g} MB per queue, filed in {seconds:.1f} s")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    one = page_dead(MessageFilter(queue="large"), limit=1).messages[0]
    pages = {
        f"large: list of {count}": "/jobs/dead/?queue=large",
        f"large, no previews: list of {count}": "/jobs/dead/?queue=large-old",
        "large: detail (bounded view)": f"/jobs/dead/large/{one.redis_id}/",
    }
    print(f"median (min-max) of {repeat} requests, ms")
    time_pages(client, pages, repeat)
    size = len(client.get(pages[f"large: list of {count}"]).content)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"list page: {size / 1024:.0f} KB of HTML; peak RSS of this process grew {grown:.0f} MB "
        f"(the detail page loads one letter)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--large", type=int, default=50, help="letters per page in the large-letter benchmark")
    parser.add_argument("--large-mb", type=float, default=2.0)
    parser.add_argument("--keep", action="store_true", help="keep the data for another run")
    args = parser.parse_args()
    setup_django(NAMESPACE)

    from django.test import Client

    from dramaturg.store import dead_letters, keys
    from dramaturg.store.connection import client as redis_client
    from dramaturg.store.connection import text
    from dramaturg.store.filters import MessageFilter

    if redis_client().zcard(keys.dead_key("emails")) != args.messages:
        clear_namespace(NAMESPACE)
        print(f"filling {args.messages:,} dead letters ...", flush=True)
        seconds = fill(args.messages)
        print(f"filled in {seconds:.1f} s ({args.messages / seconds:,.0f} letters/s)")
    memory = redis_client().info("memory")["used_memory_human"]
    print(f"Redis used_memory: {memory}")

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(superuser())
    deep = redis_client().zrevrange(keys.dead_key("emails"), args.messages // 2, args.messages // 2, withscores=True)[0]
    deep_cursor = f"{int(deep[1])}:emails/{text(cast(bytes, deep[0]))}"
    one = dead_letters.page_dead(MessageFilter(queue="emails"), limit=1).messages[0]

    pages = {
        "overview /jobs/": "/jobs/",
        "overview.json": "/jobs/overview.json",
        "dead letters, page 1": "/jobs/dead/",
        f"dead letters, page at {args.messages // 2:,}": f"/jobs/dead/?queue=emails&older={deep_cursor}",
        "filter actor (4 groups)": "/jobs/dead/?actor=send_welcome_email",
        "filter actor + exception": "/jobs/dead/?actor=send_welcome_email&exception=TimeoutError",
        "filter actor, next page": "",
        "dead letter detail": f"/jobs/dead/emails/{one.redis_id}/",
        "queue detail": "/jobs/queues/emails/",
        "admin failed messages": "/admin/dramaturg/failedmessage/",
        "admin, filter exception": "/admin/dramaturg/failedmessage/?exception=ValueError",
    }
    second = dead_letters.page_dead(MessageFilter(actor="send_welcome_email"), limit=50).older
    pages["filter actor, next page"] = f"/jobs/dead/?actor=send_welcome_email&older={second}"

    print(f"\n{args.messages:,} dead letters; median (min-max) of {args.repeat} requests, ms")
    time_pages(client, pages, args.repeat)
    if args.large:
        bench_large(client, args.large, args.large_mb, args.repeat)
    if not args.keep:
        clear_namespace(NAMESPACE)


if __name__ == "__main__":
    main()
