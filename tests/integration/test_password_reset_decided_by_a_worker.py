"""Password reset with a real worker (issue 19, item 9): the request records one job whatever the address;
the worker emails a registered address once, with a working link, and an unknown address never."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import EmailDelivery, User
from jobs.models import OutboxMessage
from jobs.store import recent
from tests.processes import wait_for

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def test_a_reset_emails_a_registered_address_once_with_a_working_link_and_an_unknown_one_never(live, worker, smtp):
    User.objects.create_user("ann@example.com", PASSWORD, display_name="Ann")
    wait_for(lambda: smtp.received("ann@example.com"), what="the welcome email")
    client = Client()
    for email in ("nobody@example.com", "ann@example.com"):
        assert (
            client.post("/accounts/password-reset/", {"email": email})["Location"] == "/accounts/password-reset/sent/"
        )
    decisions = [str(row.message_id) for row in OutboxMessage.objects.filter(actor_name="decide_password_reset")]
    assert len(decisions) == 2
    wait_for(lambda: all(recent.finished(i) for i in decisions), what="the worker's two decisions")
    user = User.objects.get(email="ann@example.com")
    wait_for(
        lambda: EmailDelivery.objects.filter(user=user, kind="password_reset", status="sent").exists(),
        what="the reset email sent",
    )
    resets = [m for m in smtp.received("ann@example.com") if m["Subject"].startswith("Reset your password")]
    assert len(resets) == 1
    assert smtp.received("nobody@example.com") == []
    text = next(p for p in resets[0].walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password-reset/\S+/)", text).group(1)
    form = client.get(link, follow=True)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "new-horse-42!", "new_password2": "new-horse-42!"})
    assert done["Location"] == "/accounts/password-reset/done/"
    assert User.objects.get(pk=user.pk).check_password("new-horse-42!")
    assert EmailDelivery.objects.filter(kind="password_reset").count() == 1
