"""Password reset request time for a registered vs an unknown address (issue 19): can an attacker tell them apart?

    .venv/bin/python bench/password_reset.py [--requests 400] [--repeats 3]

Times whole requests through Django's test client (middleware to response: the form, one short transaction
with its outbox row, the after-commit dispatch to Redis) on a SQLite file and a Redis database of its own
(packages/django-dramaturg/bench/_setup.py, namespace "bench-reset"), registered and unknown addresses
interleaved (ABBA). Each registered request is the most expensive kind (PASSWORD_RESET_EMAIL_INTERVAL_S=0:
it owes an email every time). Two modes, interleaved repeat by repeat:

- "worker decides": the project's code: every request records one `decide_password_reset(address)` job;
- "decided in the request": the code before, for comparison: the request looks the address up and, for a
  registered one, writes the EmailDelivery and its outbox row itself (the bench swaps the form's save()).

Prints each mode's median and p95 (ms) for both kinds of address, the registered / unknown ratios, and
P(registered slower) = Mann-Whitney U / (n x n): 0.5 when the two cannot be told apart, 1.0 when always.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.*
sys.path.insert(1, str(ROOT / "packages" / "django-dramaturg" / "bench"))  # the shared _setup

from _setup import clear_namespace, setup_django  # noqa: E402

NAMESPACE = "bench-reset"
USERS = 10


def probability_slower(a: list[float], b: list[float]) -> float:
    """Mann-Whitney U / (len(a) x len(b)): P(a sample of `a` > one of `b`), ties counting half."""
    ranked = sorted([(x, 0) for x in a] + [(y, 1) for y in b])
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum((i + j + 1) / 2 for k in range(i, j) if ranked[k][1] == 0)
        i = j
    u = rank_sum - len(a) * (len(a) + 1) / 2
    return u / (len(a) * len(b))


@contextlib.contextmanager
def decided_in_the_request() -> Iterator[None]:
    """The form's save() as it was before the worker decided: the look-up and the rows in the request."""
    from accounts.forms import OutboxPasswordResetForm
    from accounts.tasks import send_password_reset

    def save(self, *args, **kwargs) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            send_password_reset(user.pk)

    project_save = OutboxPasswordResetForm.save
    OutboxPasswordResetForm.save = save  # type: ignore[method-assign]
    try:
        yield
    finally:
        OutboxPasswordResetForm.save = project_save  # type: ignore[method-assign]


def run(requests: int, registered: list[str], unknown: list[str]) -> dict[str, list[float]]:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    times: dict[str, list[float]] = {"registered": [], "unknown": []}

    def timed(kind: str, email: str) -> None:
        started = time.perf_counter()
        response = client.post("/accounts/password-reset/", {"email": email})
        times[kind].append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302, response.status_code

    for n in range(requests):
        pair = [("registered", registered[n % USERS]), ("unknown", unknown[n % USERS])]
        for kind, email in pair if n % 2 else reversed(pair):
            timed(kind, email)
    return times


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per kind of address per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ["PASSWORD_RESET_RATE_PER_MINUTE"] = "100000000"  # the per-client throttle is not measured here
    os.environ["PASSWORD_RESET_EMAIL_INTERVAL_S"] = "0"
    setup_django(NAMESPACE, "project.settings", [ROOT])
    from django.contrib.auth.hashers import make_password

    from accounts.models import EmailDelivery, User
    from dramaturg.models import OutboxMessage

    clear_namespace(NAMESPACE)
    OutboxMessage.objects.all().delete()
    EmailDelivery.objects.all().delete()
    User.objects.all().delete()
    password = make_password("correct-horse-battery-staple")
    registered = [f"registered{n:02d}@example.com" for n in range(USERS)]
    User.objects.bulk_create([User(email=email, password=password) for email in registered])  # no welcome jobs
    unknown = [f"unknownaddr{n:02d}@example.com" for n in range(USERS)]  # as long as the registered ones

    modes = {"worker decides": contextlib.nullcontext, "decided in the request": decided_in_the_request}
    results: dict[str, dict[str, list[float]]] = {mode: {"registered": [], "unknown": []} for mode in modes}
    for context in modes.values():  # warm-up: templates, connections, Lua scripts
        with context():
            run(20, registered, unknown)
    for repeat in range(args.repeats):
        order = list(modes) if repeat % 2 == 0 else list(reversed(modes))
        for mode in order:
            with modes[mode]():
                for kind, samples in run(args.requests, registered, unknown).items():
                    results[mode][kind] += samples
    clear_namespace(NAMESPACE)

    load = os.getloadavg()[0]
    print(
        f"POST /accounts/password-reset/, {args.repeats} x {args.requests} requests per address kind and mode, "
        f"interleaved; load average {load:.1f}"
    )
    print(
        f"{'mode':24} {'registered p50':>15} {'unknown p50':>12} {'ratio':>6} "
        f"{'registered p95':>15} {'unknown p95':>12} {'ratio':>6} {'P(reg. slower)':>15}"
    )
    for mode, times in results.items():
        reg, unk = times["registered"], times["unknown"]
        p50r, p50u, p95r, p95u = statistics.median(reg), statistics.median(unk), p95(reg), p95(unk)
        print(
            f"{mode:24} {p50r:15.2f} {p50u:12.2f} {p50r / p50u:6.2f} {p95r:15.2f} {p95u:12.2f} {p95r / p95u:6.2f} "
            f"{probability_slower(reg, unk):15.3f}"
        )


if __name__ == "__main__":
    main()
