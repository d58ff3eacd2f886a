"""dramaturg.mail.OutboxEmailBackend with real processes: a real rundramatiq worker, the real SMTP sink, a
redis-server of the test's own for the outage. Django's own PasswordResetForm.save() in a view is sent once;
a rolled-back send_mail never; Redis down at send() loses nothing; a job delivered twice sends once; an HTML
alternative and a 1 MB attachment arrive intact."""

from __future__ import annotations

import os

import dramatiq
import pytest
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import transaction
from django.test import Client

from dramaturg.mail.outbox import send_outbox_email
from dramaturg.models import OutboxEmail, OutboxMessage
from harness.http import post_json
from harness.processes import ProcessStack, RedisServer, child_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def sent(email: OutboxEmail) -> bool:
    return OutboxEmail.objects.filter(pk=email.pk, status="sent").exists()


def test_djangos_password_reset_form_in_a_view_is_sent_once_by_a_worker(live, outbox_mailers, worker):
    User = get_user_model()
    User.objects.create_user("ann", "ann@example.com", "correct-horse-battery")
    assert Client().post("/demo/password-reset/", {"email": "ann@example.com"}).status_code == 204
    assert outbox_mailers.received() == []  # the view only recorded it
    [email] = OutboxEmail.objects.all()
    [message] = wait_for(lambda: outbox_mailers.received("ann@example.com"), what="the reset email")
    wait_for(lambda: sent(email), what="the row marked sent")
    assert message["Message-ID"] == email.headers["Message-ID"] and "/reset/" in message.get_payload()

    # The same job delivered twice more (a redelivery, a reconciler's copy): each finds it sent.
    broker = dramatiq.get_broker()
    for _ in range(2):
        broker.enqueue(send_outbox_email.message(email.pk))
    wait_for(
        lambda: worker.log_text().count(f"Outbox email {email.pk} was already sent") >= 2,
        what="both copies to find it sent",
    )
    assert len(outbox_mailers.received("ann@example.com")) == 1
    assert OutboxEmail.objects.get(pk=email.pk).attempts == 1


def test_send_mail_in_a_rolled_back_transaction_sends_nothing(live, outbox_mailers, worker):
    with pytest.raises(RuntimeError), transaction.atomic():
        send_mail("Rolled back", "never", "host@example.com", ["gone@example.com"])
        raise RuntimeError("the view fails after send_mail")
    send_mail("Committed", "after", "host@example.com", ["kept@example.com"])  # the same worker, later
    wait_for(lambda: outbox_mailers.received("kept@example.com"), what="the committed email")
    assert outbox_mailers.received("gone@example.com") == []
    assert list(OutboxEmail.objects.values_list("subject", flat=True)) == ["Committed"]


def test_an_html_alternative_and_a_1_mb_attachment_arrive_intact(live, outbox_mailers, worker):
    data = os.urandom(1024 * 1024)
    message = EmailMultiAlternatives("Your export", "See the attachment.", "host@example.com", ["big@example.com"])
    message.attach_alternative("<p>See the <b>attachment</b>.</p>", "text/html")
    message.attach("export.bin", data, "application/octet-stream")
    message.send()
    [received] = wait_for(lambda: outbox_mailers.received("big@example.com"), timeout=60, what="the big email")
    parts = {part.get_content_type(): part for part in received.walk()}
    assert parts["text/plain"].get_payload(decode=True).strip() == b"See the attachment."
    assert parts["text/html"].get_payload(decode=True).strip() == b"<p>See the <b>attachment</b>.</p>"
    assert parts["application/octet-stream"].get_filename() == "export.bin"
    assert parts["application/octet-stream"].get_payload(decode=True) == data
    # The job carried only the row's id; the bytes stayed in the database.
    assert OutboxMessage.objects.get(actor_name="send_outbox_email").args == [OutboxEmail.objects.get().pk]


def test_redis_down_at_send_loses_nothing_the_relay_sends_it_later(tmp_path, smtp, transactional_db):
    redis_server = RedisServer(tmp_path / "redis", appendonly=False).start()
    stack = ProcessStack(
        child_env(TEST_REDIS_URL=redis_server.url, DRAMATIQ_NAMESPACE="outbox-down", EMAIL_URL=smtp.url)
    )
    try:
        redis_server.stop()  # the broker is down when the view sends
        stack.web()
        url = f"http://127.0.0.1:{stack.port}/demo/notify/"
        status, body, _ = post_json(url, {"subject": "Order shipped", "text": "On its way.", "to": "cy@example.com"})
        assert (status, body) == (200, {"sent": 1})
        [email] = OutboxEmail.objects.all()
        assert OutboxMessage.objects.get().dispatched_at is None  # kept for the relay
        redis_server.start()
        stack.relay()
        stack.worker()
        wait_for(lambda: smtp.received("cy@example.com"), timeout=60, what="the email, relayed then sent")
        wait_for(lambda: sent(email), what="the row marked sent")
        assert len(smtp.received("cy@example.com")) == 1
    finally:
        stack.stop()
        redis_server.kill()
