"""bench/mail_backends.py's producer: plain `send_mail` calls, one per transaction, in a Django process of the
settings it is started with (DJANGO_SETTINGS_MODULE). Writes, as JSON to the file given, when each email's
transaction committed (its first on-commit callback) and how long each transaction took (the request's share).

    python packages/django-dramaturg/bench/mail_producer.py OUT.json PREFIX COUNT [--paced]

--paced: a random gap of 0.2-1 s before each email (idle senders); otherwise back to back (a burst).
"""

from __future__ import annotations

import argparse
import json
import random
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("--paced", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.mail import send_mail
    from django.db import transaction

    committed: dict[str, float] = {}
    in_transaction: list[float] = []
    for n in range(args.count):
        if args.paced:
            time.sleep(random.uniform(0.2, 1.0))
        subject = f"{args.prefix} {n}"
        started = time.perf_counter()
        with transaction.atomic():
            transaction.on_commit(lambda subject=subject: committed.__setitem__(subject, time.time()))
            send_mail(subject, "A benchmark email.", "bench@example.com", [f"to{n % 50}@example.com"])
        in_transaction.append((time.perf_counter() - started) * 1000)
    with open(args.out, "w") as out:
        json.dump({"committed": committed, "transaction_ms": in_transaction}, out)


if __name__ == "__main__":
    main()
