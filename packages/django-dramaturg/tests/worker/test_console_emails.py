"""The console's Emails page: the outbox emails by state, recipients masked, and cancel / send again through
the confirm-then-perform flow, audited; in English and Korean. The admin lists them read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.test import Client

from dramaturg.mail import outbox
from dramaturg.models import AuditEntry, OutboxEmail, OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(clean_redis, outbox_mailers) -> Client:
    User: Any = get_user_model()
    user = User.objects.create_superuser("ops", "ops@example.com", "password")
    client = Client()
    client.force_login(user)
    return client


def owe_two() -> tuple[OutboxEmail, OutboxEmail]:
    send_mail("Invoice 42", "Body", "shop@example.com", ["ann.lee@example.com"])
    send_mail("Invoice 43", "Body", "shop@example.com", ["bo@example.org"])
    owed, failed = OutboxEmail.objects.order_by("pk")
    OutboxEmail.objects.filter(pk=failed.pk).update(
        status="failed", failure="permanent", last_error="SMTPRecipientsRefused: 550 no such user"
    )
    return owed, failed


@pytest.mark.parametrize(
    "language, owed_label, failed_label", [("en", "Owed (1)", "Failed (1)"), ("ko", "보낼 예정 (1)", "실패 (1)")]
)
def test_the_emails_page_lists_each_state_with_recipients_masked(operator, language, owed_label, failed_label):
    owe_two()
    owed = operator.get("/jobs/emails/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert owed_label in owed and failed_label in owed
    assert "a***@example.com" in owed and "ann.lee" not in owed and "Invoice 42" in owed and "Invoice 43" not in owed
    failed = operator.get("/jobs/emails/?state=failed", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "b***@example.org" in failed and "550 no such user" in failed


def test_state_counts_stop_at_the_cap_and_the_page_says_more(operator, monkeypatch):
    monkeypatch.setattr(outbox, "COUNT_CAP", 2)
    for n in range(4):
        send_mail(f"Receipt {n}", "Body", "shop@example.com", ["ann.lee@example.com"])
    OutboxEmail.objects.update(status="sent")
    assert outbox.state_counts(cap=2)["sent"] == 3 and outbox.state_counts(cap=10)["sent"] == 4
    assert "Sent (2+)" in operator.get("/jobs/emails/?state=sent").content.decode()


def test_cancel_and_send_again_confirm_first_and_are_audited(operator):
    owed, failed = owe_two()
    confirm = operator.post("/jobs/emails/action/", {"op": "kill:selected", "refs": [owed.pk]})
    assert confirm.status_code == 200 and "Cancel 1 email?" in confirm.content.decode()
    assert OutboxEmail.objects.get(pk=owed.pk).status == "pending"  # nothing done before the confirmation
    done = operator.post(
        "/jobs/emails/action/", {"op": "kill:selected", "refs": [owed.pk], "confirm": "yes"}, follow=True
    )
    assert OutboxEmail.objects.get(pk=owed.pk).status == "cancelled" and "Cancelled 1 email." in done.content.decode()
    fields = {"op": "requeue:selected", "refs": [owed.pk, failed.pk], "confirm": "yes"}
    assert "Sent again 2 emails." in operator.post("/jobs/emails/action/", fields, follow=True).content.decode()
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {"pending"}
    assert OutboxMessage.objects.filter(actor_name="send_outbox_email", args=[failed.pk]).count() == 2
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "count")) == [
        ("cancel_email", 1),
        ("send_again", 2),
    ]


def test_the_admin_lists_them_read_only_with_recipients_masked(operator):
    owe_two()
    page = operator.get("/admin/dramaturg/outboxemail/").content.decode()
    assert "a***@example.com" in page and "ann.lee" not in page and "Invoice 42" in page
    assert operator.get("/admin/dramaturg/outboxemail/add/").status_code == 403
