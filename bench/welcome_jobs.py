"""The peers' welcome email, the seed tutorial's way: fetch the user, `send_mail`. No idempotency
record: a redelivered message sends again. Shared by bench/welcome_celery.py and bench/welcome_stock.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail


def send_welcome_email(user_id: int) -> None:
    user = get_user_model().objects.get(pk=user_id)
    send_mail(
        f"Welcome to {settings.SITE_NAME}",
        f"Hello {user.email},\n\nthanks for signing up. Sign in at {settings.SITE_URL}/accounts/login/.\n",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )
