"""EmailDelivery rows: the welcome email's own (claiming and settling them is dramaturg.sendonce)."""

from __future__ import annotations

from django.db import transaction

from .models import EmailDelivery, User


def welcome_delivery_id(user_id: int) -> int:
    """The user's welcome delivery row (created with the user; made here for rows that predate it).

    Raises User.DoesNotExist when the user is gone.
    """
    with transaction.atomic():
        user = User.objects.get(pk=user_id)
        delivery, _ = EmailDelivery.objects.get_or_create(user=user)
    return delivery.pk
