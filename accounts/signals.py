"""Signal receivers of the accounts app, connected in AccountsConfig.ready()."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.utils import timezone

from jobs import outbox

from .models import EmailDelivery, LoginEvent


def queue_welcome_email(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    from .tasks import send_welcome_email

    # Both rows belong to the signup's own transaction: a rolled-back signup owes
    # nothing; a committed one always carries its email job, even if Redis is
    # down or this process dies right after the commit (the outbox relay sends it).
    EmailDelivery.objects.create(user=instance, kind=EmailDelivery.Kind.WELCOME)  # a new user has none yet
    outbox.enqueue_on_commit(send_welcome_email, instance.pk)


def record_login(sender, request, user, **kwargs) -> None:
    LoginEvent.objects.create(user=user, at=timezone.now())


def connect() -> None:
    post_save.connect(queue_welcome_email, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.welcome_email")
    user_logged_in.connect(record_login, dispatch_uid="accounts.record_login")
