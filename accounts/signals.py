"""Signal receivers of the accounts app, connected in AccountsConfig.ready()."""

from __future__ import annotations

from axes.utils import reset as reset_failed_sign_ins
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.utils import timezone

from dramaturg import outbox

from . import throttle
from .models import EmailDelivery, LoginEvent


def queue_welcome_email(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    from .tasks import send_welcome_email

    # Both rows belong to the signup's own transaction: a rolled-back signup owes
    # nothing; a committed one always carries its email job, even if Redis is
    # down or this process dies right after the commit (the outbox relay sends it).
    EmailDelivery.objects.create(user=instance)  # a new user has none yet
    outbox.enqueue_on_commit(send_welcome_email, instance.pk)


def record_login(sender, request, user, **kwargs) -> None:
    LoginEvent.objects.create(user=user, at=timezone.now())


def forget_failed_sign_ins(sender, request, user, **kwargs) -> None:
    """A successful sign-in clears the failures of this account from this client address only (django-axes'
    own reset, AXES_RESET_ON_SUCCESS, also clears the address's failures on other accounts: signing in to
    one's own account between guesses would then lift both limits)."""
    address = throttle.login_client_address(request) if request is not None else None
    if address is not None:
        reset_failed_sign_ins(ip=address, username=user.get_username())


def connect() -> None:
    post_save.connect(queue_welcome_email, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.welcome_email")
    user_logged_in.connect(record_login, dispatch_uid="accounts.record_login")
    user_logged_in.connect(forget_failed_sign_ins, dispatch_uid="accounts.forget_failed_sign_ins")
