"""Signing up: the same answer, and the same work, whether or not the address is registered."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import EmailDelivery, User, normalize_email
from .tasks import send_existing_account_email


def sign_up(email: str, password: str) -> None:
    """Create the account, or, if the address is registered, owe its owner a
    "you already have an account" email. The caller cannot tell which happened.

    The password is hashed first, outside any transaction (the hash is the slow
    step: no database write lock is held during it), and on both paths, so both
    take the same time. Each path then commits one short transaction that records
    the email owed and its outbox row (the welcome email through the post_save signal).
    """
    email = normalize_email(email)
    encoded = make_password(password)
    try:
        with transaction.atomic():
            # FOR UPDATE (PostgreSQL): notices to one user are decided one at a time.
            existing = User.objects.select_for_update().filter(email=email).first()
            if existing is None:
                User.objects.create(email=email, password=encoded)
                return
            _owe_existing_account_notice(existing)
    except IntegrityError:
        # A concurrent signup registered the address between our look-up and our insert.
        with transaction.atomic():
            _owe_existing_account_notice(User.objects.select_for_update().get(email__iexact=email))


def _owe_existing_account_notice(user: User) -> None:
    """At most one notice per user per EXISTING_ACCOUNT_NOTICE_INTERVAL_S, so signups cannot mail-bomb anyone."""
    since = timezone.now() - timedelta(seconds=settings.EXISTING_ACCOUNT_NOTICE_INTERVAL_S)
    if EmailDelivery.objects.filter(user=user, kind=EmailDelivery.Kind.EXISTING_ACCOUNT, created_at__gt=since).exists():
        return
    delivery = EmailDelivery.objects.create(user=user, kind=EmailDelivery.Kind.EXISTING_ACCOUNT)
    send_existing_account_email.enqueue(delivery.pk)  # in this transaction: through the outbox
