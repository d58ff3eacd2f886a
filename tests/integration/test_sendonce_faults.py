"""Issue 19's sending-twice rows, replayed with real processes: a slow final SMTP reply, no final reply,
the database unavailable right after the mail server accepted, a worker paused after the acceptance,
and a mail server refusing for longer than a message's retries."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.health import owed_emails
from accounts.models import EmailDelivery, User
from harness.database_outage import column, make_the_database_unavailable, migrate, once, restart_postgres, writable
from harness.http import post_json
from harness.processes import RedisServer, SchedulerProcess, stop_and_wait, wait_for
from harness.processes import test_database_url as database_url
from tests.integration import test_faults
from tests.integration.test_faults import PASSWORD

pytestmark = [pytest.mark.integration]

stack = test_faults.stack  # the fixture: web, workers and relay on a Redis of the test's own


def copies(smtp) -> Counter:
    """How many copies each address received."""
    return Counter(m["To"] for m in smtp.received())


def status(user_id: int) -> EmailDelivery:
    return EmailDelivery.objects.get(user_id=user_id)


def reconcile(stack, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "reconcile_deliveries", "--older-than", "0"],
        cwd=settings.BASE_DIR,
        env={**stack.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_final_reply_slower_than_the_command_timeout_is_waited_for_one_copy_each(stack, smtp, fault_summary):
    """Issue 19's row: the server stores the message but answers the end of DATA after 2.5x the command
    timeout (was: 14 extra copies for 6 users). The final reply has its own, long, timeout: 0 extra."""
    stack.env.update(EMAIL_TIMEOUT_S="2", EMAIL_TIME_LIMIT_MS="60000")
    smtp.handler.final_reply_delay = 5.0
    stack.web()
    stack.worker(threads=3)
    stack.relay()
    emails = [f"slowreply{n}@example.com" for n in range(6)]
    user_ids = [stack.signup(email) for email in emails]
    wait_for(lambda: all(status(u).status == "sent" for u in user_ids), timeout=90, what="six emails marked sent")
    stack.wait_quiet()
    fault_summary("final SMTP reply 5 s (command timeout 2 s)", 6, smtp.received())
    assert copies(smtp) == dict.fromkeys(emails, 1)


def test_no_final_reply_is_outcome_unknown_then_one_more_send_by_the_rule(stack, smtp, fault_summary):
    """No answer to the end of DATA within EMAIL_DATA_TIMEOUT_S: not retried, not failed, shown; the
    reconciler sends it once more (same Message-ID) only EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S later."""
    stack.env.update(EMAIL_TIMEOUT_S="2", EMAIL_DATA_TIMEOUT_S="2")
    smtp.handler.final_reply_delay = 5.0
    stack.web()
    worker = stack.worker()
    stack.relay()
    user_id = stack.signup("unknown@example.com")
    wait_for(lambda: status(user_id).status == "unknown", timeout=30, what="the outcome to be unknown")
    smtp.handler.final_reply_delay = 0.0
    row = status(user_id)
    assert "no answer after the message was handed over" in row.last_error and row.outcome_unknown_at
    assert row.attempts == 1 and row.sent_at is None
    wait_for(lambda: "outcome unknown" in worker.log_text(), what="the worker to log the unknown outcome")

    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    page = client.get("/accounts/").content.decode()
    assert 'data-state="unknown"' in page and 'id="send-again"' not in page
    assert any(p.subject == "outcome unknown" for p in owed_emails())  # /jobs/health, and the admins' alert

    # Within the wait: no job sends it again, whatever re-enqueues it.
    assert reconcile(stack) == "Re-enqueued 0 owed email(s)."
    assert len(smtp.received("unknown@example.com")) == 1
    # After the wait (5 s here; a day by default): exactly one more send, with the same Message-ID.
    wait_for(
        lambda: reconcile(stack, EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S="5") == "Re-enqueued 1 owed email(s).",
        timeout=30,
        interval=1,
        what="the rule's one more send",
    )
    wait_for(lambda: status(user_id).status == "sent", timeout=30, what="the row marked sent")
    received = smtp.received("unknown@example.com")
    fault_summary("no final SMTP reply (outcome unknown), resent by the rule", 1, received)
    assert len(received) == 2 and received[0]["Message-ID"] == received[1]["Message-ID"]
    assert reconcile(stack, EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S="0") == "Re-enqueued 0 owed email(s)."


def test_database_unavailable_right_after_the_server_accepted_sends_each_email_once(stack, smtp, fault_summary):
    """The database is unavailable for 8 s, longer than the workers' busy timeout (SQLite: 1 s) and the
    lease (3 s), from the moment the mail server accepted the first email: the outcome is parked and the
    worker keeps trying until the database takes it; nothing is sent twice."""
    stack.env.update(EMAIL_MAX_RETRIES="20")  # jobs that start during the outage outlast it
    if connection.vendor == "sqlite":
        stack.env.update(DATABASE_URL=database_url() + "?timeout=1")
    released = threading.Event()
    smtp.handler.on_accepted = once(lambda: make_the_database_unavailable(8.0, released))
    stack.web()
    stack.relay()
    emails = [f"dbaway{n}@example.com" for n in range(4)]
    user_ids = [stack.signup(email) for email in emails]  # all committed before the first send
    stack.worker(threads=2)
    stack.worker(threads=2)
    wait_for(released.is_set, timeout=60, what="the database to go away and come back")
    connection.close()  # this process's connection may have been ended too
    wait_for(lambda: all(status(u).status == "sent" for u in user_ids), timeout=90, what="every row marked sent")
    stack.wait_quiet()
    fault_summary(f"database ({connection.vendor}) away 8 s right after acceptance", len(emails), smtp.received())
    assert copies(smtp) == dict.fromkeys(emails, 1)
    logs = "".join(p.log_text() for p in stack.processes)
    assert "but the database did not take it" in logs and "(parked in Redis: True)" in logs


def stop_holding_no_write_lock(pid: int) -> None:
    """SIGSTOP process group `pid` at a moment it holds no write lock on the database: a worker stopped
    inside its lease renewal's write would stall every other writer on SQLite for the whole pause."""
    while True:
        stop_and_wait(pid, group=True)  # stopped before the sink's reply goes out, not on its way to stopping
        if writable():
            return
        os.killpg(pid, signal.SIGCONT)
        wait_for(writable, what="the worker to release the write lock")


def test_a_worker_paused_after_acceptance_longer_than_the_lease_is_the_one_window(stack, smtp, fault_summary):
    """SIGSTOP right after the server accepted: a pause shorter than the lease gives no extra copy; one
    longer than the lease and the heartbeat timeout (3 s each here) gives exactly one, same Message-ID."""
    stack.web()
    stack.relay()
    paused = stack.worker(threads=1)
    pid = paused.proc.pid
    long_address = "long-pause@example.com"
    pauses: dict[str, float] = {}
    # The address whose next acceptance pauses the worker. The SMTP sink is the session's: any other message
    # it accepts meanwhile (the session worker's, or one an earlier test's process wrote after its flush and
    # this stack's relay sent) must not pause it, nor use up the pause.
    armed: list[str] = []
    resumes: list[threading.Thread] = []  # Timer is a Thread
    standby: list = []
    stopped_at = 0.0

    def resume_after_the_extra_copy() -> None:
        # Until the other worker sent it again: the pause outlasts the lease and the heartbeat timeout.
        with contextlib.suppress(AssertionError):  # no copy: the test says so, with the worker's log
            wait_for(lambda: len(smtp.received(long_address)) >= 2, timeout=90, what="the window's extra copy")
        pauses["seconds"] = time.monotonic() - stopped_at
        os.killpg(pid, signal.SIGCONT)

    def pause(message) -> None:
        nonlocal stopped_at
        if not armed or message["To"] != armed[0]:
            return
        armed.clear()
        stop_holding_no_write_lock(pid)
        stopped_at = time.monotonic()
        if not standby:  # a short pause, the fault itself: 1 s
            resume: threading.Thread = threading.Timer(1.0, lambda: os.killpg(pid, signal.SIGCONT))
        else:  # the second worker waited, stopped, so that the paused one took the message
            resume = threading.Thread(target=resume_after_the_extra_copy)
            standby[0].signal(signal.SIGCONT, group=True)
        resume.start()
        resumes.append(resume)  # started: the test may join it from now on

    smtp.handler.on_accepted = pause
    # A short pause (1 s, under the 3 s lease): the worker resumes and marks it; no other worker ran.
    armed.append("short-pause@example.com")
    short = stack.signup("short-pause@example.com")
    wait_for(lambda: status(short).status == "sent", timeout=30, what="the short-pause email marked sent")
    assert len(smtp.received("short-pause@example.com")) == 1

    # A long pause (until the copy below, 3-5 s here): another worker gets the message back after the
    # heartbeat timeout, claims the row once the lease ran out, and sends it again: the stated window's
    # one extra copy.
    second = stack.worker(threads=1)
    second.signal(signal.SIGSTOP, group=True)  # woken by pause(): the first worker must take this message
    standby.append(second)
    armed.append(long_address)
    long = stack.signup(long_address)
    wait_for(lambda: len(resumes) == 2, timeout=60, what="the worker paused after the server accepted")
    resumes[-1].join()  # it resumes the paused worker once the copy came, or after 90 s without one
    assert len(smtp.received(long_address)) == 2, no_copy_report(stack, smtp, {"short": short, "long": long})
    wait_for(lambda: status(long).status == "sent", timeout=60, what="the long-pause email marked sent")
    # The paused worker resumed: it marks the row, or its retry (on either worker) finds it sent.
    wait_for(
        lambda: (
            paused.log_text().count("Welcome email sent to user") == 2
            or (paused.log_text() + second.log_text()).count("was already sent; nothing to do") >= 1
        ),
        what="the resumed worker's job to settle",
    )
    stack.wait_quiet()
    received = smtp.received(long_address)
    fault_summary(f"worker SIGSTOPped {pauses['seconds']:.1f} s after acceptance (lease 3 s)", 1, received)
    assert len(received) == 2 and received[0]["Message-ID"] == received[1]["Message-ID"]
    assert status(long).attempts == 2


def test_sigterm_gives_every_running_send_the_whole_shutdown_timeout(stack, smtp, fault_summary):
    """Four emails handed over when SIGTERM comes, the server's final replies 2-8 s after it, all
    within the worker's 10 s shutdown timeout: each is answered and marked sent before the worker exits,
    and the next worker sends none again. (Dramatiq's own stop took the time spent off the timeout again
    at each thread it joined: it gave up on the last of these after ~6 s.)"""
    ends = {f"stagger{n}@example.com": end for n, end in enumerate((2.0, 4.0, 6.0, 8.0))}
    stopping = threading.Event()

    def slow_final_reply(message) -> None:  # the fault: a server that answers each in its own time
        end = ends.get(message["To"])
        if end is not None and stopping.wait(60):
            time.sleep(end)

    smtp.handler.on_accepted = slow_final_reply
    stack.env.update(EMAIL_TIME_LIMIT_MS="30000")  # the stack's 5 s would end the slowest sends itself
    stack.web()
    worker = stack.worker(threads=len(ends))
    user_ids = [stack.signup(address) for address in ends]
    wait_for(lambda: sum(copies(smtp)[a] for a in ends) == len(ends), timeout=60, what="every email handed over")
    worker.signal(signal.SIGTERM)
    stopping.set()
    worker.proc.wait(30)
    assert [status(u).status for u in user_ids] == ["sent"] * len(ends), worker.log_tail()
    stack.worker()
    stack.wait_quiet()
    fault_summary("SIGTERM with 4 sends awaiting their final reply (2-8 s)", len(ends), smtp.received())
    assert copies(smtp) == dict.fromkeys(ends, 1)


def no_copy_report(stack, smtp, user_ids: dict[str, int]) -> str:
    """What the window test needs to say when no extra copy came: each row, the mail received, the stack's
    Redis, every log."""
    rows = {
        name: EmailDelivery.objects.filter(user_id=pk).values("pk", "status", "attempts", "claimed_until").first()
        for name, pk in user_ids.items()
    }
    conn = stack.redis.client()
    try:
        keys = sorted(k.decode() for k in conn.keys("*"))
    finally:
        conn.close()
    logs = "\n".join(f"--- {p.log_path.name} ---\n{p.log_tail(40)}" for p in stack.processes)
    mail = [(m["To"], m["Subject"]) for m in smtp.received()]
    return f"no extra copy; rows {rows}; mail received {mail}; Redis keys {keys}\n{logs}"


def test_after_a_long_mail_outage_the_reconciler_sends_every_email_once_and_a_refused_one_stays_failed(
    stack, smtp, fault_summary
):
    """The mail server refuses connections for longer than the messages' retries: the rows fail as
    transient; when it is back, the scheduler's reconciler sends each once, no person involved. A 5xx
    refusal is permanent: it stays failed and visible."""
    stack.env.update(SEND_ONCE_RECONCILE_CRON="* * * * *", EMAIL_RETRY_FAILED_EVERY_S="1")
    stack.web()
    stack.worker()
    stack.relay()
    smtp.handler.reply = "550 5.1.1 No such user here"
    refused = stack.signup("nosuchuser@example.com")
    wait_for(lambda: status(refused).status == "failed", timeout=40, what="the 5xx-refused email failed")
    smtp.handler.reply = None
    smtp.stop()  # connection refused from now on
    emails = [f"outage{n}@example.com" for n in range(3)]
    user_ids = [stack.signup(email) for email in emails]
    wait_for(lambda: all(status(u).status == "failed" for u in user_ids), timeout=60, what="the retries used up")
    assert {status(u).failure for u in user_ids} == {"transient"}
    assert status(refused).failure == "permanent"
    smtp.start()
    scheduler = SchedulerProcess(stack.env)
    stack.processes.append(scheduler.start())
    wait_for(lambda: all(status(u).status == "sent" for u in user_ids), timeout=150, what="the reconciler's sends")
    stack.wait_quiet()
    fault_summary("mail server refusing past the retries, then back", 3, smtp.received())
    assert copies(smtp) == dict.fromkeys(emails, 1)
    row = status(refused)
    assert row.status == "failed" and "550" in row.last_error and smtp.received("nosuchuser@example.com") == []


def test_postgresql_restarted_right_after_the_server_accepted_sends_each_email_once(
    postgres_server, smtp, tmp_path, fault_summary
):
    """The suite's own PostgreSQL server restarted (fast shutdown, back 5 s later) the moment the mail
    server accepted the first email: the outcome is parked, the worker keeps trying, nothing is sent twice."""
    url = postgres_server.create_database("sendonce_restart")
    redis_server = RedisServer(tmp_path / "redis").start()
    stack = test_faults.Stack(redis_server, smtp)
    stack.env.update(DATABASE_URL=url, EMAIL_MAX_RETRIES="20")
    migrate(stack.env)
    restarted = threading.Event()
    try:
        stack.web()
        emails = [f"pgrestart{n}@example.com" for n in range(4)]
        for email in emails:  # all committed (and dispatched) before the first send
            answer, body, _ = post_json(
                f"http://127.0.0.1:{stack.port}/api/signup/", {"email": email, "password": PASSWORD}
            )
            assert answer == 202, body
        smtp.handler.on_accepted = once(lambda: restart_postgres(postgres_server, 5.0, restarted))
        stack.worker()
        stack.worker()
        wait_for(restarted.is_set, timeout=60, what="PostgreSQL to restart")
        statuses = "SELECT status FROM accounts_emaildelivery"
        wait_for(lambda: column(url, statuses) == ["sent"] * 4, timeout=90, what="every row marked sent")
        logs = "".join(p.log_text() for p in stack.processes)
        fault_summary("PostgreSQL restarted right after acceptance", 4, smtp.received())
        assert copies(smtp) == dict.fromkeys(emails, 1)
        assert "but the database did not take it" in logs and "(parked in Redis: True)" in logs
    finally:
        stack.stop()
        redis_server.stop()
