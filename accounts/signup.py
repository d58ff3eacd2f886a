"""Signing up: the same answer, and the same work, whether or not the address is registered."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from dramaturg.bounded import bounded

from .emails import EXISTING_ACCOUNT
from .models import User, normalize_email
from .notices import send_throttled


def sign_up(email: str, password: str, *, display_name: str = "", language: str = "") -> None:
    """Create the account, or, if the address is registered, owe its owner a
    "you already have an account" email. The caller cannot tell which happened.

    The password is hashed first, outside any transaction (the hash is the slow
    step: no database write lock is held during it), and on both paths, so both
    take the same time. Past the web process's hashing capacity it raises
    dramaturg.bounded.Overloaded (answered 503 with Retry-After) and writes nothing.
    Each path then commits one short transaction that records
    the email owed and its outbox row (the welcome email through the post_save signal).
    `language` (one of LANGUAGES) is the language of the new user's emails; a registered
    user's notice goes out in the language stored with their account.
    """
    email = normalize_email(email)
    # At most WEB.BOUNDED_SLOTS["signup-hash"] hashes per process: past capacity, dramaturg.bounded.Overloaded
    # (a 503 with Retry-After, by ServiceUnavailableMiddleware) before anything is written.
    with bounded("signup-hash"):
        encoded = make_password(password)
    try:
        with transaction.atomic():
            # FOR UPDATE (PostgreSQL): notices to one user are decided one at a time.
            existing = User.objects.select_for_update().filter(email=email).first()
            if existing is None:
                User.objects.create(
                    email=email, password=encoded, display_name=display_name.strip(), language=_supported(language)
                )
                return
            _owe_existing_account_notice(existing)
    except IntegrityError:
        # A concurrent signup registered the address between our look-up and our insert.
        with transaction.atomic():
            _owe_existing_account_notice(User.objects.select_for_update().get(email__iexact=email))


def _supported(language: str) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    return language if language in codes else settings.LANGUAGE_CODE


def _owe_existing_account_notice(user: User) -> None:
    """At most one notice per user per EXISTING_ACCOUNT_NOTICE_INTERVAL_S, so signups cannot mail-bomb anyone.
    Plain Django mail: the outbox backend records it in this transaction."""
    send_throttled(user, EXISTING_ACCOUNT, "existing_account_notice_at", settings.EXISTING_ACCOUNT_NOTICE_INTERVAL_S)
