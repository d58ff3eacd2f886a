"""Rendering of the emails the accounts app sends, in the language of the user they go to."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.loader import get_template
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from . import filled_templates
from .models import EmailDelivery, User

WELCOME, EXISTING_ACCOUNT, PASSWORD_RESET = "welcome", "existing_account", "password_reset"  # template stems
_MESSAGE_ID_PREFIXES = {WELCOME: "welcome", EXISTING_ACCOUNT: "account-notice", PASSWORD_RESET: "password-reset"}


@cache
def _path(name: str) -> str:
    """The path of a URL without arguments (no i18n_patterns: the same in every language), once per process."""
    return reverse(name)


@cache
def _template(name: str) -> Any:
    """A template found (and compiled) once per process: each email of a kind renders the same three."""
    return get_template(name)


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    if setting == "TEMPLATES":
        _template.cache_clear()
    if setting in {"TEMPLATES", "LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS", "USE_I18N"}:
        filled_templates.forget()  # rendered with the old templates or catalogs
    if setting == "ROOT_URLCONF":
        _path.cache_clear()


def _render(name: str, context: dict[str, str], values: dict[str, str]) -> str:
    # Rendered once per language, then filled in with each recipient's values (accounts.filled_templates).
    return filled_templates.render(_template(name), context, values)


def _context() -> dict[str, str]:
    """What every email of the app may show: the same for each recipient."""
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "login_url": settings.SITE_URL + _path("accounts:login"),
        "account_url": settings.SITE_URL + _path("accounts:account"),
        "password_reset_url": settings.SITE_URL + _path("accounts:password_reset"),
    }


def _values(user: User, stem: str) -> dict[str, str]:
    """What an email shows of its recipient."""
    values = {"name": user.greeting_name}
    if stem == PASSWORD_RESET:
        # Made when the email is built (in the worker that decides the reset): valid PASSWORD_RESET_TIMEOUT
        # from then, and void once the password changes or the user signs in again (Django's token generator).
        path = reverse(
            "accounts:password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
        values["reset_url"] = settings.SITE_URL + path
    return values


def build_email(user: User, stem: str, message_key: str = "") -> EmailMultiAlternatives:
    """One of the accounts app's emails (`stem`: WELCOME, EXISTING_ACCOUNT, PASSWORD_RESET), plain text with an
    HTML alternative, in the user's language. Its Message-ID is fixed here (`message_key`, else a new one), so
    that a resend after a crash that followed the server's acceptance is the same message to mail systems."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        context, values = _context(), _values(user, stem)
        subject = " ".join(_render(f"accounts/email/{stem}_subject.txt", context, values).split())
        text = _render(f"accounts/email/{stem}.txt", context, values)
        html = _render(f"accounts/email/{stem}.html", context, values)
    key = message_key or uuid.uuid4().hex
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            "Content-Language": user.language or settings.LANGUAGE_CODE,
            "Message-ID": f"<{_MESSAGE_ID_PREFIXES[stem]}-{key}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def welcome_email(delivery: EmailDelivery) -> EmailMultiAlternatives:
    """The welcome email a delivery row owes (one Message-ID per delivery)."""
    message = build_email(delivery.user, WELCOME, f"{delivery.pk}-{delivery.user_id}")
    message.extra_headers["X-Delivery-Id"] = str(delivery.pk)
    return message


def warm_up() -> None:
    """One email of each kind built in each language, for no one: run by each worker process at boot
    (DRAMATURG["WORKER"]["WARM_UP"]), so that its first emails find the templates compiled, the catalogs
    loaded and the URLs resolved, instead of each of its threads doing it at once. Reads no database."""
    for code, _ in settings.LANGUAGES:
        user = User(email="warm-up@example.invalid", language=code)
        for stem in _MESSAGE_ID_PREFIXES:
            build_email(user, stem).message()
