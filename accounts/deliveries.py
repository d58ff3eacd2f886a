"""EmailDelivery rows: the welcome email's own (claiming and settling them is dramaturg.sendonce)."""

from __future__ import annotations

from django.db import transaction

from .models import EmailDelivery, User


def welcome_delivery(user_id: int) -> EmailDelivery:
    """The user's welcome delivery row, its user read with it (the row is created with the user; made
    here for rows that predate it).

    Raises User.DoesNotExist when the user is gone.
    """
    # The common case is one SELECT; only a row that predates it takes the transaction.
    for delivery in EmailDelivery.objects.select_related("user").filter(user_id=user_id)[:1]:
        return delivery
    with transaction.atomic():
        user = User.objects.get(pk=user_id)
        delivery, _ = EmailDelivery.objects.get_or_create(user=user)
    return delivery
