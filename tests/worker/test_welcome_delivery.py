"""accounts.deliveries.welcome_delivery: the row and its user in one compiled SELECT, as the ORM reads them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.deliveries import welcome_delivery
from accounts.models import EmailDelivery, User

pytestmark = pytest.mark.django_db


def columns(model):
    return [f.attname for f in model._meta.concrete_fields]


def test_the_row_and_its_user_are_read_in_one_statement_as_the_orm_reads_them():
    users = [User.objects.create_user(f"reader-{n}@example.com", "x", display_name=f"민지 {n}") for n in range(2)]
    for user in users:
        with CaptureQueriesContext(connection) as queries:
            delivery = welcome_delivery(user.pk)
        assert len(queries) == 1
        expected = EmailDelivery.objects.select_related("user").get(user=user)
        assert [getattr(delivery, c) for c in columns(EmailDelivery)] == [
            getattr(expected, c) for c in columns(EmailDelivery)
        ]
        assert [getattr(delivery.user, c) for c in columns(User)] == [getattr(expected.user, c) for c in columns(User)]
        assert delivery.user.greeting_name == expected.user.greeting_name
        assert delivery._state.db == delivery.user._state.db == "default"


def test_a_user_without_a_row_gets_one_and_a_missing_user_raises():
    user = User.objects.create_user("older@example.com", "x")
    EmailDelivery.objects.filter(user=user).delete()  # as a user from before delivery rows
    assert welcome_delivery(user.pk).user_id == user.pk
    assert EmailDelivery.objects.filter(user=user).count() == 1
    with pytest.raises(User.DoesNotExist):
        welcome_delivery(user.pk + 1000)
