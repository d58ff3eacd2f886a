"""Demo data is demo data: `seed_demo` leaves no welcome email the reconciler would send, and its delays are a
working mail server's (seconds, a few retried for minutes), not the days a late reconciler run would add."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F, Max

from accounts.models import EmailDelivery
from accounts.tasks import enqueue_owed

pytestmark = pytest.mark.django_db


def test_seed_demo_leaves_nothing_owed_and_plausible_delays(clean_redis):
    call_command("seed_demo", users=600, days=28, seed=7)
    deliveries = EmailDelivery.objects.all()
    assert deliveries.count() == 600
    assert not deliveries.exclude(status__in=["sent", "failed"]).exists()
    assert enqueue_owed(timedelta(0)) == 0  # the reconciler's own question: nothing to send
    longest = deliveries.filter(sent_at__isnull=False).aggregate(m=Max(F("sent_at") - F("user__date_joined")))["m"]
    assert timedelta(0) < longest <= timedelta(minutes=16)
    assert not deliveries.filter(created_at__gt=F("user__date_joined")).exists()
