"""dramaturg.compiled_queries: a statement compiled once runs with each call's values, as its QuerySet would."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dramaturg import alerts
from dramaturg.alerts import FAILING, Change
from dramaturg.compiled_queries import CompiledSelect, CompiledUpdate
from dramaturg.models import HealthAlert, OutboxEmailAttachment

CLAIM = CompiledUpdate(
    lambda rows, pk, now, until: (
        rows.filter(pk=pk).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)),
        {"status": "sending", "claimed_until": until, "attempts": F("attempts") + 1},
    ),
    {"pk": "pk", "now": "claimed_until", "until": "claimed_until"},
    returning=True,
)
COUNT = CompiledUpdate(lambda rows, pk: (rows.filter(pk=pk), {"attempts": F("attempts") + 1}), {"pk": "pk"})
READ = CompiledSelect(
    lambda rows, pk: rows.filter(pk=pk).values_list("pk", "check_name", "claimed_until", "created_at"), {"pk": "pk"}
)


def rows(count: int) -> list[HealthAlert]:
    changes = [Change("dead_letters", f"queue-{n}", 1, FAILING, "1 dead letter") for n in range(count)]
    return alerts.record(changes, lambda pk: None)


@pytest.mark.django_db
def test_each_call_updates_its_own_row_with_its_own_values_in_one_statement():
    first, second = rows(2)
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        [taken] = CLAIM.run(HealthAlert, pk=first.pk, now=now, until=now + timedelta(seconds=90))
    assert len(queries) == 1
    assert taken == HealthAlert.objects.get(pk=first.pk)
    assert (taken.status, taken.attempts, taken.claimed_until) == ("sending", 1, now + timedelta(seconds=90))
    # The same statement, another row and other times; the first row's lease is still live.
    [other] = CLAIM.run(HealthAlert, pk=second.pk, now=now, until=now + timedelta(seconds=30))
    assert (other.pk, other.claimed_until) == (second.pk, now + timedelta(seconds=30))
    assert CLAIM.run(HealthAlert, pk=first.pk, now=now + timedelta(seconds=60), until=now) == []
    [again] = CLAIM.run(HealthAlert, pk=first.pk, now=now + timedelta(seconds=90), until=now)
    assert again.attempts == 2


@pytest.mark.django_db
def test_every_column_read_back_is_what_the_orm_reads():
    [alert] = rows(1)
    now = timezone.now()
    [taken] = CLAIM.run(HealthAlert, pk=alert.pk, now=now, until=now)
    fresh = HealthAlert.objects.get(pk=alert.pk)
    columns = [f.attname for f in HealthAlert._meta.concrete_fields]
    assert [getattr(taken, c) for c in columns] == [getattr(fresh, c) for c in columns]
    assert taken._state.db == "default" and not taken._state.adding


@pytest.mark.django_db
def test_without_returning_each_row_updated_is_an_empty_tuple():
    first, _ = rows(2)
    assert COUNT.run(HealthAlert, pk=first.pk) == [()]
    assert COUNT.run(HealthAlert, pk=first.pk + 1000) == []
    assert list(HealthAlert.objects.order_by("pk").values_list("attempts", flat=True)) == [1, 0]


@pytest.mark.django_db
def test_a_select_returns_the_rows_the_orm_would_converted_alike():
    first, second = rows(2)
    expected = HealthAlert.objects.filter(pk=second.pk).values_list("pk", "check_name", "claimed_until", "created_at")
    assert READ.run(HealthAlert, pk=second.pk) == [list(row) for row in expected]
    assert READ.run(HealthAlert, pk=first.pk)[0][0] == first.pk


@pytest.mark.django_db(transaction=True)
def test_another_thread_compiles_its_own_on_its_own_connection():
    [alert] = rows(1)
    READ.run(HealthAlert, pk=alert.pk)
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(READ.run(HealthAlert, pk=alert.pk)))
    thread.start()
    thread.join()
    assert seen == [READ.run(HealthAlert, pk=alert.pk)]


def ignores_its_slot(rows: QuerySet[Any], pk: int) -> QuerySet[Any]:
    return rows.filter(pk=1).values_list("pk")


def uses_its_slot_twice(rows: QuerySet[Any], pk: int) -> QuerySet[Any]:
    return rows.filter(Q(pk=pk) | Q(id__lt=pk)).values_list("pk")


@pytest.mark.django_db
@pytest.mark.parametrize("build", [ignores_its_slot, uses_its_slot_twice])
def test_a_slot_not_found_once_among_the_parameters_is_refused(build):
    with pytest.raises(ImproperlyConfigured, match="Slot 'pk'"):
        CompiledSelect(build, {"pk": "pk"}).run(HealthAlert, pk=1)


@pytest.mark.django_db
def test_an_update_across_tables_is_refused():
    statement = CompiledUpdate(lambda rows, pk: (rows.filter(pk=pk, email__subject="Hi"), {"size": 0}), {"pk": "pk"})
    with pytest.raises(ImproperlyConfigured, match="its own table"):
        statement.run(OutboxEmailAttachment, pk=1)
