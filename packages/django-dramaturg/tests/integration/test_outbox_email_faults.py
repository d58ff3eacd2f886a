"""The send-once faults of the welcome email (the reference project's tests/integration/test_sendonce_faults.py)
for dramaturg.mail.OutboxEmailBackend, with real processes: the host's web process records each email
(/demo/notify/, send_mail), real rundramatiq workers send it to the real SMTP sink, on a redis-server of the
test's own. The database goes away right after the mail server accepted (the test database locked or refused;
the suite's own PostgreSQL server restarted), a final reply to DATA slower than the command timeout, and a mail
server refusing for longer than the retries: each email arrives exactly once and its row ends sent."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection

from dramaturg.mail.outbox import state_filter
from dramaturg.models import OutboxEmail
from harness.database_outage import column, make_the_database_unavailable, migrate, once, restart_postgres
from harness.http import post_json
from harness.processes import ManagedProcess, ProcessStack, RedisServer, child_env, wait_for
from harness.processes import test_database_url as database_url
from harness.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(tmp_path, smtp: SmtpSink) -> Iterator[ProcessStack]:
    """Web, workers (and a one-shot command) on the test database and a redis-server of the test's own."""
    redis_server = RedisServer(tmp_path / "redis", appendonly=False).start()
    env = child_env(TEST_REDIS_URL=redis_server.url, DRAMATIQ_NAMESPACE="outbox-faults", EMAIL_URL=smtp.url)
    stack = ProcessStack(env)
    try:
        yield stack
    finally:
        stack.stop()
        redis_server.kill()


def overrides(stack: ProcessStack, **groups: dict[str, object]) -> None:
    """DRAMATURG groups for the processes started from now on (tests/host/settings.py)."""
    stack.env["DRAMATURG_OVERRIDES"] = json.dumps(groups)


def notify(stack: ProcessStack, *addresses: str) -> None:
    """One email to each address, recorded by the web process's send_mail (a view's) and committed."""
    for to in addresses:
        status, body, _ = post_json(
            f"http://127.0.0.1:{stack.port}/demo/notify/", {"subject": "Order shipped", "text": "On its way.", "to": to}
        )
        assert (status, body) == (200, {"sent": 1})


@contextlib.contextmanager
def workers_paused(*workers: ManagedProcess) -> Iterator[None]:
    """Workers started (their system checks read the database before it goes away) and stopped until the
    block ends: the jobs enqueued meanwhile wait in Redis."""
    for worker in workers:
        worker.signal(signal.SIGSTOP, group=True)
    try:
        yield
    finally:
        for worker in workers:
            worker.signal(signal.SIGCONT, group=True)


def copies(smtp: SmtpSink) -> Counter:
    """How many copies each address received."""
    return Counter(m["To"] for m in smtp.received())


def statuses() -> list[str]:
    return list(OutboxEmail.objects.order_by("pk").values_list("status", flat=True))


def reconcile(stack: ProcessStack) -> str:
    """`reconcile_send_once --older-than 0` in a process of its own: what the periodic reconciler does."""
    result = subprocess.run(
        [sys.executable, "-m", "django", "reconcile_send_once", "--older-than", "0"],
        cwd=settings.BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def logs(stack: ProcessStack) -> str:
    return "".join(p.log_text() for p in stack.processes)


def test_database_unavailable_right_after_the_server_accepted_sends_each_outbox_email_once(stack, smtp):
    """The test database (SQLite: write-locked past the workers' 1 s busy timeout; PostgreSQL: connections
    ended and refused) is unavailable for 8 s, longer than the 3 s lease, from the moment the mail server
    accepted the first email: the outcome is parked, the worker keeps trying, nothing is sent twice."""
    overrides(stack, EMAIL={"MAX_RETRIES": 20}, SEND_ONCE={"LEASE_S": 3})
    if connection.vendor == "sqlite":
        stack.env.update(DATABASE_URL=database_url() + "?timeout=1")
    released = threading.Event()
    stack.web()
    emails = [f"dbaway{n}@example.com" for n in range(4)]
    with workers_paused(stack.worker(threads=2), stack.worker(threads=2)):
        notify(stack, *emails)  # all committed before the first send
        smtp.handler.on_accepted = once(lambda: make_the_database_unavailable(8.0, released))
    wait_for(released.is_set, timeout=60, what="the database to go away and come back")
    connection.close()  # this process's connection may have been ended too
    wait_for(lambda: statuses() == ["sent"] * 4, timeout=90, what="every outbox email marked sent")
    assert copies(smtp) == dict.fromkeys(emails, 1)
    assert "but the database did not take it" in logs(stack) and "(parked in Redis: True)" in logs(stack)


def test_postgresql_restarted_right_after_the_server_accepted_sends_each_outbox_email_once(
    postgres_server, stack, smtp
):
    """The suite's own PostgreSQL server restarted (fast shutdown, back 5 s later) the moment the mail server
    accepted the first email: the outcome is parked, the worker keeps trying, nothing is sent twice."""
    url = postgres_server.create_database("outbox_restart")
    stack.env.update(DATABASE_URL=url)
    overrides(stack, EMAIL={"MAX_RETRIES": 20}, SEND_ONCE={"LEASE_S": 3})
    migrate(stack.env)
    restarted = threading.Event()
    stack.web()
    emails = [f"pgrestart{n}@example.com" for n in range(4)]
    with workers_paused(stack.worker(), stack.worker()):
        notify(stack, *emails)
        smtp.handler.on_accepted = once(lambda: restart_postgres(postgres_server, 5.0, restarted))
    wait_for(restarted.is_set, timeout=60, what="PostgreSQL to restart")
    statuses_there = "SELECT status FROM dramaturg_outboxemail ORDER BY id"
    wait_for(lambda: column(url, statuses_there) == ["sent"] * 4, timeout=90, what="every outbox email marked sent")
    assert copies(smtp) == dict.fromkeys(emails, 1)
    assert "but the database did not take it" in logs(stack) and "(parked in Redis: True)" in logs(stack)


def test_a_final_reply_slower_than_the_command_timeout_is_waited_for_one_copy_each(stack, smtp):
    """The server stores the message but answers the end of DATA after 2.5x the command timeout (2 s): the
    final reply has its own, long, timeout (600 s), so each outbox email is sent once and marked sent."""
    stack.env.update(EMAIL_TIMEOUT_S="2")
    overrides(stack, EMAIL={"TIMEOUT_S": 2, "TIME_LIMIT_MS": 60_000})
    smtp.handler.final_reply_delay = 5.0
    stack.web()
    emails = [f"slowreply{n}@example.com" for n in range(3)]
    notify(stack, *emails)
    stack.worker(threads=3)
    wait_for(lambda: statuses() == ["sent"] * 3, timeout=90, what="every outbox email marked sent")
    assert copies(smtp) == dict.fromkeys(emails, 1)
    assert set(OutboxEmail.objects.values_list("attempts", flat=True)) == {1}


def test_after_a_long_mail_outage_the_reconciler_sends_each_outbox_email_once(stack, smtp):
    """The mail server refuses connections for longer than the emails' retries: the rows fail as transient
    (the console's "retrying"); once it accepts again, the reconciler's job sends each exactly once."""
    overrides(stack, EMAIL={"MAX_RETRIES": 2}, SEND_ONCE={"RETRY_FAILED_EVERY_S": 1})
    smtp.stop()  # connection refused from now on
    stack.web()
    stack.worker()
    emails = [f"outage{n}@example.com" for n in range(3)]
    notify(stack, *emails)
    wait_for(lambda: statuses() == ["failed"] * 3, timeout=60, what="the retries used up")
    rows = OutboxEmail.objects.all()
    assert set(rows.values_list("failure", flat=True)) == {"transient"}
    assert rows.filter(state_filter("retrying")).count() == 3 and smtp.received() == []
    smtp.start()
    assert reconcile(stack) == "Re-enqueued 3 owed row(s)."
    wait_for(lambda: statuses() == ["sent"] * 3, timeout=60, what="the reconciler's sends")
    assert reconcile(stack) == "Re-enqueued 0 owed row(s)."
    assert copies(smtp) == dict.fromkeys(emails, 1)
