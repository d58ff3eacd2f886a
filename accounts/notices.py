"""Emails a user asks for, or is owed by someone else's action, at most one per user per interval.

"You already have an account" (a signup with a registered address) and password reset links can be
requested by anyone who knows an address: the per-user interval keeps that from mail-bombing its owner.
They are plain Django mail: the outbox backend (MAILERS["default"], dramaturg.mail.OutboxEmailBackend)
records each with its job in the caller's transaction, and a worker sends it once.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .emails import build_email
from .models import User


def send_throttled(user: User, stem: str, last_sent_field: str, interval_s: int) -> bool:
    """Send email `stem` to `user` unless one was sent within `interval_s` (`last_sent_field` of the user
    says when); returns whether it was sent. Call inside the transaction the email belongs to: the
    conditional UPDATE that takes the slot locks the user's row, so two requests for one user are
    decided one at a time, and a rollback gives the slot back with the email."""
    now = timezone.now()
    recent = {f"{last_sent_field}__gt": now - timedelta(seconds=interval_s)}
    if not User.objects.filter(pk=user.pk).exclude(**recent).update(**{last_sent_field: now}):
        return False
    build_email(user, stem).send()
    return True
