"""dramaturg.mail.OutboxEmailBackend in process: what send() records, in which transaction, and the send-once
actor that hands the rebuilt message to the real SMTP sink (the worker tier: Redis and a real SMTP server,
no worker process; the actor's body is called as the worker would)."""

from __future__ import annotations

from datetime import timedelta

import dramatiq
import pytest
import redis
from django.core.mail import EmailMessage, EmailMultiAlternatives, send_mail
from django.db import transaction

from dramaturg.health import run_checks
from dramaturg.mail import AttachmentTooLarge, sending_alias
from dramaturg.mail.outbox import cancel, reconcile_outbox_emails, requeue, send_outbox_email
from dramaturg.models import OutboxEmail, OutboxEmailAttachment, OutboxMessage
from dramaturg.store import queues
from harness.dramaturg_settings import set_dramaturg
from harness.ports import reserve_port
from harness.processes import wait_for


def _jobs(row: OutboxEmail) -> int:
    return OutboxMessage.objects.filter(actor_name="send_outbox_email", args=[row.pk]).count()


@pytest.mark.django_db(transaction=True)
def test_send_mail_records_a_row_and_its_job_and_returns_at_once(clean_redis, outbox_mailers):
    assert send_mail("Hello", "Body", "from@example.com", ["ann@example.com"]) == 1
    [row] = OutboxEmail.objects.all()
    assert (row.subject, row.body, row.to, row.mailer, row.status) == (
        "Hello",
        "Body",
        ["ann@example.com"],
        "smtp",
        "pending",
    )
    assert row.headers["Message-ID"].startswith("<") and _jobs(row) == 1
    assert outbox_mailers.received() == []  # nothing sent by send(): a worker sends it


@pytest.mark.django_db(transaction=True)
def test_send_mail_in_a_rolled_back_transaction_records_nothing(clean_redis, outbox_mailers):
    with pytest.raises(RuntimeError), transaction.atomic():
        send_mail("Hello", "Body", "from@example.com", ["ann@example.com"])
        raise RuntimeError("the view fails after sending")
    assert not OutboxEmail.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_actor_sends_the_message_as_given_once_with_its_fixed_message_id(clean_redis, outbox_mailers):
    message = EmailMultiAlternatives(
        "Report", "text body", "from@example.com", ["ann@example.com"], cc=["cc@example.com"],
        bcc=["hidden@example.com"], reply_to=["reply@example.com"], headers={"X-Tag": "monthly"},
    )  # fmt: skip
    message.attach_alternative("<p>html body</p>", "text/html")
    message.attach("report.csv", "a,b\n1,2\n", "text/csv")
    message.attach("blob.bin", bytes(range(256)), "application/octet-stream")
    message.send()
    row = OutboxEmail.objects.get()
    send_outbox_email(row.pk)
    send_outbox_email(row.pk)  # a job delivered twice: the second finds it sent
    [received] = outbox_mailers.received()
    assert received["Message-ID"] == row.headers["Message-ID"] and received["X-Tag"] == "monthly"
    assert received["Cc"] == "cc@example.com" and received["Reply-To"] == "reply@example.com"
    assert "Bcc" not in received
    parts = {part.get_content_type(): part for part in received.walk()}
    assert parts["text/html"].get_payload(decode=True).strip() == b"<p>html body</p>"
    assert parts["application/octet-stream"].get_payload(decode=True) == bytes(range(256))
    assert parts["text/csv"].get_filename() == "report.csv"
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 1
    # sent: the envelope and subject stay (the console shows them), the content is forgotten
    assert (row.subject, row.to, row.body, row.alternatives) == ("Report", ["ann@example.com"], "", [])
    assert not OutboxEmailAttachment.objects.filter(email=row).exists()


@pytest.mark.django_db
def test_an_attachment_over_the_limit_raises_at_send_and_records_nothing(clean_redis, settings, outbox_mailers):
    set_dramaturg(settings, "OUTBOX_EMAIL", MAX_ATTACHMENTS_BYTES=1000)
    message = EmailMessage("Big", "Body", "from@example.com", ["ann@example.com"])
    message.attach("big.bin", b"x" * 1001, "application/octet-stream")
    with pytest.raises(AttachmentTooLarge, match="1001 bytes; at most 1000"):
        message.send()
    assert not OutboxEmail.objects.exists() and not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_email_is_not_sent_and_a_requeued_one_is(clean_redis, outbox_mailers):
    send_mail("Hello", "Body", "from@example.com", ["ann@example.com"])
    row = OutboxEmail.objects.get()
    assert cancel([row.pk]) == 1
    send_outbox_email(row.pk)
    assert outbox_mailers.received() == [] and OutboxEmail.objects.get().status == "cancelled"
    assert requeue([row.pk]) == 1 and _jobs(row) == 2
    send_outbox_email(row.pk)
    assert len(outbox_mailers.received()) == 1 and OutboxEmail.objects.get().status == "sent"
    assert requeue([row.pk]) == 0  # a sent email is never sent again


@pytest.mark.django_db
def test_emails_owed_as_send_once_rows_go_straight_to_the_sending_mailer(settings, outbox_mailers):
    assert sending_alias() == "smtp"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert sending_alias() == "default"


@pytest.mark.django_db(transaction=True)
def test_attachments_in_a_named_storage_and_a_mime_part_come_back_whole(
    clean_redis, outbox_mailers, settings, tmp_path
):
    settings.STORAGES = {
        **settings.STORAGES,
        "mail": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    set_dramaturg(settings, "OUTBOX_EMAIL", ATTACHMENT_STORAGE="mail")
    message = EmailMessage("Files", "Body", "from@example.com", ["ann@example.com"])
    message.attach("notes.txt", "첫 줄\nsecond line\n", "text/plain")
    inner = EmailMessage("Forwarded", "the original", "x@example.com", ["y@example.com"]).message()
    message.attach(inner)  # a MIME part with headers of its own, kept whole
    original = EmailMessage("Original", "quoted", "q@example.com", ["r@example.com"])
    message.attach("original.eml", original, "message/rfc822")  # Django's way to forward a message
    message.send()
    row = OutboxEmail.objects.get()
    stored = list(row.attachments.values_list("storage", "content"))
    assert stored == [("mail", None)] * 3 and len(list(tmp_path.rglob("*"))) >= 3
    send_outbox_email(row.pk)
    [received] = outbox_mailers.received()
    parts = list(received.walk())
    notes = next(p for p in parts if p.get_filename() == "notes.txt")
    assert notes.get_payload(decode=True).decode().splitlines() == ["첫 줄", "second line"]  # CRLF on the wire
    forwarded = next(p for p in parts if p["Subject"] == "Forwarded")
    assert forwarded.get_payload(decode=True).strip() == b"the original"
    assert any(p["Subject"] == "Original" for p in parts)  # inside the message/rfc822 attachment


@pytest.mark.django_db(transaction=True)
def test_the_reconciler_re_enqueues_an_outbox_email_whose_job_never_reached_redis(
    clean_redis, outbox_mailers, settings
):
    dead = redis.Redis(host="127.0.0.1", port=reserve_port(), socket_connect_timeout=1, socket_timeout=1)
    with pytest.MonkeyPatch.context() as patch:  # Redis down at commit, and no relay running
        patch.setattr(dramatiq.get_broker(), "client", dead)
        send_mail("Hello", "Body", "from@example.com", ["ann@example.com"])
    email = OutboxEmail.objects.get()
    assert OutboxMessage.objects.get().dispatched_at is None and email.reconciled_at is None
    set_dramaturg(settings, "SEND_ONCE", RECONCILE_AFTER_S=0)
    reconcile_outbox_emails.fn()
    email.refresh_from_db()
    assert email.reconciled_at is not None  # its job enqueued again, from the row
    wait_for(lambda: sent_or_ready(email), what="the re-enqueued job in Redis (or already sent by a live worker)")


def sent_or_ready(email: OutboxEmail) -> bool:
    ready = [m.data["args"] for m in queues.page_ready("emails") if m.data["actor_name"] == "send_outbox_email"]
    return [email.pk] in ready or OutboxEmail.objects.get(pk=email.pk).status == "sent"


@pytest.mark.django_db(transaction=True)
def test_no_final_reply_after_the_hand_over_is_outcome_unknown_not_a_resend(clean_redis, outbox_mailers, settings):
    """The server takes the message but its "250" never comes in time: maybe delivered, so not retried now
    (the send-once rule of every row: one more send, same Message-ID, only after UNKNOWN_RESEND_AFTER_S)."""
    settings.MAILERS["smtp"]["OPTIONS"].update(timeout=5, data_timeout=0.5)
    outbox_mailers.handler.final_reply_delay = 2
    send_mail("Hello", "Body", "from@example.com", ["ann@example.com"])
    row = OutboxEmail.objects.get()
    send_outbox_email(row.pk)
    send_outbox_email(row.pk)  # a redelivery meanwhile: nothing
    row.refresh_from_db()
    assert (
        row.status == "unknown"
        and row.attempts == 1
        and "no answer after the message was handed over" in row.last_error
    )
    wait_for(lambda: len(outbox_mailers.received()) == 1, what="the server to have stored the one copy")


@pytest.mark.django_db(transaction=True)
def test_an_outbox_email_owed_longer_than_the_setting_fails_the_health_check(clean_redis, outbox_mailers, settings):
    set_dramaturg(settings, "HEALTH", OUTBOX_EMAIL_OWED_S=60)
    send_mail("Hello", "Body", "from@example.com", ["ann@example.com"])
    row = OutboxEmail.objects.get()
    assert outbox_email_problems() == []  # owed for less than a minute: healthy
    OutboxEmail.objects.filter(pk=row.pk).update(created_at=row.created_at - timedelta(seconds=61))
    [problem] = outbox_email_problems()
    prefix = "1 outbox emails owed for more than 60 s, the oldest for "
    assert problem.message.startswith(prefix)
    oldest_s = int(problem.message.removeprefix(prefix).split(" s")[0])
    assert 61 <= oldest_s < 90  # 61 s and however long this machine took since the row was written
    OutboxEmail.objects.filter(pk=row.pk).update(status="failed", failure="transient", last_error="refused")
    assert len(outbox_email_problems()) == 1  # failed for now, but the reconciler still owes it
    OutboxEmail.objects.filter(pk=row.pk).update(status="pending", failure="", last_error="")
    send_outbox_email(row.pk)  # sent by the worker's actor: healthy again
    assert OutboxEmail.objects.get().status == "sent" and outbox_email_problems() == []


def outbox_email_problems() -> list:
    report = run_checks()
    assert "outbox_emails" in report.checks
    return [p for p in report.problems if p.check == "outbox_emails"]
