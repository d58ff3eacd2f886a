"""The peers' welcome email, the seed tutorial's way: fetch the user, `send_mail`. No idempotency
record: a redelivered message sends again. Shared by bench/welcome_celery.py and bench/welcome_stock.py.
`send_project_welcome_email` sends this project's email instead of the tutorial's one line, the same way."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from accounts.emails import WELCOME, build_email


def send_welcome_email(user_id: int) -> None:
    user = get_user_model().objects.get(pk=user_id)
    send_mail(
        f"Welcome to {settings.SITE_NAME}",
        f"Hello {user.email},\n\nthanks for signing up. Sign in at {settings.SITE_URL}/accounts/login/.\n",
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def send_project_welcome_email(user_id: int) -> None:
    """The same task sending the email this project sends (its templates, in the user's language, text and
    HTML), through Django's own SMTP backend: what the peers pay for the email itself."""
    user = get_user_model().objects.get(pk=user_id)
    build_email(user, WELCOME).send()
