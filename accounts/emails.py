"""Rendering of the emails the accounts app sends, in the language of the user they go to."""

from __future__ import annotations

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

from .models import EmailDelivery, User

# kind -> (template stem, Message-ID prefix)
_TEMPLATES = {
    EmailDelivery.Kind.WELCOME: ("welcome", "welcome"),
    EmailDelivery.Kind.EXISTING_ACCOUNT: ("existing_account", "account-notice"),
    EmailDelivery.Kind.PASSWORD_RESET: ("password_reset", "password-reset"),
}


@cache
def _path(name: str) -> str:
    """The path of a URL without arguments (no i18n_patterns: the same in every language), once per process."""
    return reverse(name)


def _context(delivery: EmailDelivery, user: User) -> dict[str, Any]:
    context: dict[str, Any] = {
        "user": user,
        "name": user.greeting_name,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "login_url": settings.SITE_URL + _path("accounts:login"),
        "account_url": settings.SITE_URL + _path("accounts:account"),
        "password_reset_url": settings.SITE_URL + _path("accounts:password_reset"),
    }
    if delivery.kind == EmailDelivery.Kind.PASSWORD_RESET:
        # Made when the email is built (in the worker): valid PASSWORD_RESET_TIMEOUT from then, and void
        # once the password changes or the user signs in again (Django's token generator).
        path = reverse(
            "accounts:password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
        context["reset_url"] = settings.SITE_URL + path
    return context


@cache
def _template(name: str) -> Any:
    """A template found and compiled once per process (each email of a kind renders the same three)."""
    return get_template(name)


@receiver(setting_changed)
def _forget_templates(*, setting: str, **kwargs: Any) -> None:
    if setting == "TEMPLATES":
        _template.cache_clear()
    elif setting == "ROOT_URLCONF":
        _path.cache_clear()


def _render(name: str, context: dict[str, Any]) -> str:
    return _template(name).render(context)


def build_email(delivery: EmailDelivery) -> EmailMultiAlternatives:
    """The email a delivery row owes, plain text with an HTML alternative, in the user's language."""
    user: User = delivery.user
    stem, prefix = _TEMPLATES[EmailDelivery.Kind(delivery.kind)]
    with translation.override(user.language or settings.LANGUAGE_CODE):
        context = _context(delivery, user)
        subject = " ".join(_render(f"accounts/email/{stem}_subject.txt", context).split())
        text = _render(f"accounts/email/{stem}.txt", context)
        html = _render(f"accounts/email/{stem}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        # One Message-ID per delivery: if a crash after the server accepted the mail
        # makes us send it again, mail systems (and the tests) see the same message.
        headers={
            "X-Delivery-Id": str(delivery.pk),
            "Content-Language": user.language or settings.LANGUAGE_CODE,
            "Message-ID": f"<{prefix}-{delivery.pk}-{user.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
