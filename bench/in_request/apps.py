from django.apps import AppConfig


class InRequestConfig(AppConfig):
    """Replaces the accounts receiver (outbox + Dramatiq) with one that sends in the request."""

    name = "bench.in_request"
    label = "bench_in_request"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_save

        from .signals import send_welcome_email_now

        post_save.disconnect(sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.welcome_email")
        post_save.connect(
            send_welcome_email_now, sender=settings.AUTH_USER_MODEL, dispatch_uid="bench.welcome_email_in_request"
        )
