"""Signup through a real web process with Django's real password hasher: concurrency and enumeration.

The web process is `manage.py runserver` (threaded) on the test database, with
tests.settings_real_hasher (PBKDF2, as in production); the session's worker sends the email.
"""

import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from accounts.models import EmailDelivery, User
from dramaturg.models import OutboxEmail
from dramaturg.store import queues
from harness.http import post_json
from harness.processes import ManagedProcess, child_env, wait_for
from harness.smtp_sink import free_port

pytestmark = [pytest.mark.integration]
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def web(worker, clean_redis, smtp, transactional_db):
    port = free_port()
    process = ManagedProcess(
        ["runserver", f"127.0.0.1:{port}", "--noreload"],
        child_env(DJANGO_SETTINGS_MODULE="tests.settings_real_hasher", EMAIL_URL=smtp.url),
        b"Quit the server",
        "web-real-hasher",
    ).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/api/signup/", log_text=process.log_text)
    process.kill()


def drained() -> bool:
    return queues.queue_counts("emails") == queues.QueueCounts("emails", 0, 0, 0, 0)


def test_200_concurrent_signups_with_the_real_hasher_no_5xx_200_emails_once_each(web, smtp):
    emails = [f"crowd{n}@example.com" for n in range(200)]
    started = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda e: post_json(web.url, {"email": e, "password": PASSWORD}, timeout=300), emails))
    elapsed = time.perf_counter() - started
    statuses = Counter(status for status, _, _ in results)
    seconds = sorted(s for _, _, s in results)
    print(
        f"\n200 signups, 50 concurrent, PBKDF2: {elapsed:.1f} s, statuses {dict(statuses)}, "
        f"p50 {seconds[99]:.2f} s, max {seconds[-1]:.2f} s"
    )
    assert statuses == {202: 200}, [body for status, body, _ in results if status != 202][:3]
    assert "database is locked" not in web.log_text()
    wait_for(lambda: len(smtp.received()) >= 200, timeout=180, interval=0.5, what="200 emails")
    wait_for(drained, timeout=60, what="the queue to be drained")
    assert sorted(m["To"] for m in smtp.received()) == sorted(emails)
    assert EmailDelivery.objects.filter(status="sent").count() == 200


def test_a_registered_address_gets_the_same_answer_in_the_same_time(web, smtp):
    """Same status and body whichever the address, and the same time: each kind's median answer time
    within a factor of 3 of a new address's. Skipping the password hash for a registered address
    (the leak this guards against) makes it tens of times faster; the kinds are interleaved, so load
    on the machine slows them alike."""

    def post(email: str) -> tuple[int, dict, float]:
        return post_json(web.url, {"email": email, "password": PASSWORD}, timeout=60)

    rounds = 12
    for n in range(rounds):  # registered addresses; the "thr" ones have had their notice already
        post(f"reg{n}@example.com"), post(f"thr{n}@example.com"), post(f"thr{n}@example.com")
    kinds = {
        "new": "new{}@example.com",
        "registered": "reg{}@example.com",
        "registered, notice throttled": "thr{}@example.com",
    }
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    answers: dict[str, set] = {kind: set() for kind in kinds}
    for n in range(rounds):
        order = list(kinds)[n % 3 :] + list(kinds)[: n % 3]  # each kind first, second and third equally often
        for kind in order:
            status, body, seconds = post(kinds[kind].format(n))
            times[kind].append(seconds)
            answers[kind].add((status, tuple(sorted(body)), body.get("detail")))
    assert answers["new"] == answers["registered"] == answers["registered, notice throttled"]
    assert {status for status, _, _ in answers["new"]} == {202}
    medians = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    print(
        f"\nsignup answer time, median of {rounds} (ms): "
        + ", ".join(f"{kind} {ms:.0f}" for kind, ms in medians.items())
        + f"; registered / new = {medians['registered'] / medians['new']:.2f}, "
        f"throttled / new = {medians['registered, notice throttled'] / medians['new']:.2f}"
    )
    for kind in ("registered", "registered, notice throttled"):
        assert 1 / 3 < medians[kind] / medians["new"] < 3, (
            f"{kind}: {medians[kind]:.0f} ms, new {medians['new']:.0f} ms"
        )
    assert User.objects.count() == 3 * rounds
    assert OutboxEmail.objects.count() == 2 * rounds  # one notice per user, then none (throttled)


def test_one_address_signed_up_20_times_at_once_is_one_account_one_welcome_one_notice(web, smtp):
    """Racing signups for one address (on PostgreSQL the loser's insert fails and it owes a notice instead)."""
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(
                lambda _: post_json(web.url, {"email": "race@example.com", "password": PASSWORD}, timeout=120),
                range(20),
            )
        )
    assert {(status, body["email"]) for status, body, _ in results} == {(202, "race@example.com")}
    assert User.objects.filter(email="race@example.com").count() == 1
    wait_for(lambda: len(smtp.received()) >= 2, timeout=60, what="the welcome email and the notice")
    wait_for(drained, timeout=60, what="the queue to be drained")
    assert sorted(m["Subject"].split(" ")[0] for m in smtp.received()) == ["Welcome", "You"]
