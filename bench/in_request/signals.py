from django.db import transaction

from accounts.models import EmailDelivery
from accounts.tasks import send_welcome_email


def send_welcome_email_now(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """The same delivery row and actor body, run synchronously once the signup commits."""
    if not created or raw:
        return
    EmailDelivery.objects.create(user=instance)
    transaction.on_commit(lambda: send_welcome_email.fn(instance.pk))
