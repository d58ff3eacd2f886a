"""The welcome email end to end: HTTP signup -> Redis -> real rundramatiq worker -> real SMTP server."""

import pytest
from django.db import transaction

from accounts.models import EmailDelivery, User
from accounts.tasks import send_welcome_email
from dramaturg.models import OutboxEmail
from dramaturg.store import dead_letters, queues
from dramaturg.store.dead_letters import DeadLetterRef
from dramaturg.store.filters import MessageFilter
from harness import store_probe
from harness.http import post_json
from harness.processes import wait_for

pytestmark = [pytest.mark.integration]

PASSWORD = "correct-horse-battery-staple"


def signup(live, email: str) -> tuple[int, float]:
    """Sign up through the API (202, the same for any address); returns the new user's id and the seconds taken."""
    status, body, seconds = post_json(f"{live.url}/api/signup/", {"email": email, "password": PASSWORD})
    assert status == 202, body
    return User.objects.get(email=email).pk, seconds


def delivery(user_id: int) -> EmailDelivery:
    return EmailDelivery.objects.get(user_id=user_id)


def drained() -> bool:
    """Every job of the emails queue has been processed (acked): none ready, delayed, running or dead."""
    return queues.queue_counts("emails") == queues.QueueCounts("emails", 0, 0, 0, 0)


def test_the_worker_builds_each_email_once_at_boot_before_its_first_job(worker):
    log = worker.log_text()
    warmed, ready = log.find("Warm-up accounts.emails.warm_up done in"), log.find("is ready for action")
    assert 0 <= warmed < ready, worker.log_tail()


def test_signup_email_arrives_at_smtp_server(live, smtp, worker):
    user_id, _ = signup(live, "ann@example.com")
    [message] = wait_for(lambda: smtp.received("ann@example.com"), what="the welcome email")
    assert message["Subject"] == "Welcome to Dramatiq Reference Project, ann@example.com!"
    assert {part.get_content_type() for part in message.walk()} >= {"text/plain", "text/html"}
    wait_for(lambda: delivery(user_id).status == EmailDelivery.Status.SENT, what="delivery marked sent")
    record = delivery(user_id)
    assert record.attempts == 1 and record.sent_at is not None


def test_signup_does_not_wait_for_smtp(live, smtp, worker):
    smtp.handler.delay = 5.0
    _, seconds = signup(live, "slow@example.com")
    # The answer came before the SMTP server accepted the email (the figure itself is bench/run.py's).
    assert smtp.received("slow@example.com") == []
    assert seconds < smtp.handler.delay, f"signup took {seconds:.2f}s behind a {smtp.handler.delay}s SMTP server"
    wait_for(lambda: smtp.received("slow@example.com"), what="the delayed email")


def test_smtp_down_for_a_while_email_arrives_once_it_is_back(live, smtp, worker):
    smtp.stop()
    user_id, _ = signup(live, "patient@example.com")
    # Two attempts failed, and no third one is under way (a claim counts an attempt as it starts).
    record = wait_for(
        lambda: (d := delivery(user_id)).attempts >= 2 and d.status == EmailDelivery.Status.PENDING and d,
        what="two failed attempts",
    )
    assert "ConnectionRefused" in record.last_error
    smtp.start()
    wait_for(lambda: smtp.received("patient@example.com"), what="the email after SMTP came back")
    wait_for(drained, what="every copy of the job to be processed")
    assert len(smtp.received("patient@example.com")) == 1
    assert delivery(user_id).status == EmailDelivery.Status.SENT
    assert queues.queue_counts("emails").dead == 0


def test_smtp_failing_for_good_dead_letters_with_traceback(live, smtp, worker):
    smtp.handler.reply = "554 5.7.1 Rejected by test policy"
    user_id, _ = signup(live, "doomed@example.com")
    wait_for(lambda: store_probe.count_dead("emails") == 1, timeout=30, what="the message in the dead-letter set")
    [summary] = dead_letters.page_dead(MessageFilter(queue="emails")).messages
    dead = dead_letters.get_dead(DeadLetterRef.parse(summary.ref))
    assert dead is not None and dead.actor_name == "send_welcome_email"
    assert dead.data["args"] == [user_id]
    assert "SMTPDataError" in dead.traceback and "554" in dead.traceback
    assert dead.reason.startswith("SMTPDataError")
    assert dead.options["retries"] == 4  # the first attempt and EMAIL_MAX_RETRIES=3 retries
    wait_for(lambda: delivery(user_id).status == EmailDelivery.Status.FAILED, what="delivery marked failed")
    assert delivery(user_id).attempts == 4
    assert smtp.received() == []


def test_same_message_delivered_twice_sends_one_email(live, smtp, worker):
    smtp.handler.delay = 0.5  # both copies are in flight at once on the worker's two threads
    [user] = User.objects.bulk_create([User(email="twice@example.com")])  # no signal: only our two copies
    message = send_welcome_email.message(user.pk)
    broker = send_welcome_email.broker
    broker.enqueue(message)
    broker.enqueue(message)
    wait_for(lambda: smtp.received("twice@example.com"), what="the email")
    wait_for(drained, what="both copies to be processed")
    assert len(smtp.received("twice@example.com")) == 1
    assert delivery(user.pk).status == EmailDelivery.Status.SENT


def test_rolled_back_signup_sends_nothing(live, smtp, worker):
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.create_user("ghost@example.com", PASSWORD)
        raise RuntimeError("the signup fails after the insert")
    # Positive evidence that the queue has moved past the rolled-back signup: a later,
    # committed signup's email arrives, and then nothing is left to process.
    signup(live, "real@example.com")
    wait_for(lambda: smtp.received("real@example.com"), what="the committed signup's email")
    wait_for(drained, what="the queue to be drained")
    assert [m["To"] for m in smtp.received()] == ["real@example.com"]
    assert not User.objects.filter(email="ghost@example.com").exists()
    assert EmailDelivery.objects.count() == 1


def test_user_deleted_before_the_job_runs_ends_cleanly(live, smtp, worker):
    send_welcome_email.send(987654)  # no such user
    wait_for(lambda: "User 987654 no longer exists" in worker.log_text(), what="the job to end")
    wait_for(drained, what="the job to be acked, neither retried nor dead")


def test_outbox_row_left_pending_is_relayed_once(live, smtp, worker):
    """As if the web process had died right after the commit: the relay sends the row, once."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from dramaturg.models import OutboxMessage

    with transaction.atomic():
        [user] = User.objects.bulk_create([User(email="orphan@example.com")])
        EmailDelivery.objects.create(user=user)
        row = OutboxMessage.objects.create(actor_name="send_welcome_email", queue_name="emails", args=[user.pk])
    OutboxMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(seconds=10))
    call_command("run_outbox_relay", "--once")
    call_command("run_outbox_relay", "--once")  # nothing is due twice
    wait_for(lambda: smtp.received("orphan@example.com"), what="the relayed email")
    wait_for(drained, what="the queue to be drained")
    assert len(smtp.received("orphan@example.com")) == 1
    assert store_probe.pending_count() == 0
    assert smtp.received("orphan@example.com")[0]["Message-ID"].startswith("<welcome-")


def test_signup_with_a_registered_address_emails_its_owner_once(live, smtp, worker, outbox_mailers):
    """Not a second welcome: one "you already have an account" email, however often the address is tried."""
    signup(live, "owner@example.com")
    for _ in range(3):
        status, body, _ = post_json(f"{live.url}/api/signup/", {"email": "Owner@example.com", "password": "x" * 12})
        assert status == 202 and body["email"] == "owner@example.com"
    wait_for(lambda: len(smtp.received("owner@example.com")) >= 2, what="the welcome email and the notice")
    wait_for(drained, what="the queue to be drained")
    received = smtp.received("owner@example.com")
    assert sorted(m["Subject"] for m in received) == [
        "Welcome to Dramatiq Reference Project, owner@example.com!",
        "You already have an account at Dramatiq Reference Project",
    ]
    # Plain Django mail in the signup's transaction, through the outbox backend: one row, sent once.
    [notice] = OutboxEmail.objects.all()
    assert notice.status == OutboxEmail.Status.SENT and notice.attempts == 1
    assert any(m["Message-ID"] == notice.headers["Message-ID"] for m in received)
    assert notice.headers["Message-ID"].startswith("<account-notice-")
    assert User.objects.get().check_password(PASSWORD)
