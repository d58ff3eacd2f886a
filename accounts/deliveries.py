"""EmailDelivery rows: the welcome email's own (claiming and settling them is dramaturg.sendonce)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import router, transaction
from django.db.models import QuerySet

from dramaturg.compiled_queries import CompiledSelect

from .models import EmailDelivery, User


@cache
def _columns() -> tuple[list[str], list[str]]:
    """The attribute names of a delivery's columns and of its user's, in the order _WELCOME reads them."""
    return [f.attname for f in EmailDelivery._meta.concrete_fields], [f.attname for f in User._meta.concrete_fields]


def _welcome_of(deliveries: QuerySet[Any], user_id: int) -> QuerySet[Any]:
    delivery_columns, user_columns = _columns()
    columns = [*delivery_columns, *(f"user__{name}" for name in user_columns)]
    return deliveries.filter(user_id=user_id).values_list(*columns)[:1]


# The delivery and its user in one SELECT, compiled once per thread (each welcome email reads it).
_WELCOME = CompiledSelect(_welcome_of, {"user_id": "user"})


def welcome_delivery(user_id: int) -> EmailDelivery:
    """The user's welcome delivery row, its user read with it (the row is created with the user; made
    here for rows that predate it).

    Raises User.DoesNotExist when the user is gone.
    """
    # The common case is one SELECT; only a row that predates it takes the transaction.
    for row in _WELCOME.run(EmailDelivery, user_id=user_id):
        delivery_columns, user_columns = _columns()
        alias = router.db_for_read(EmailDelivery)
        delivery = EmailDelivery.from_db(alias, delivery_columns, row[: len(delivery_columns)])
        delivery.user = User.from_db(alias, user_columns, row[len(delivery_columns) :])
        return delivery
    with transaction.atomic():
        user = User.objects.get(pk=user_id)
        delivery, _ = EmailDelivery.objects.get_or_create(user=user)
    return delivery
