"""Which database errors are an outage (a 503 with Retry-After) and which stay errors (dramaturg.unavailable)."""

import json

import pytest
from django import db
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import translation

from dramaturg.dbconnections import is_unavailable
from dramaturg.unavailable import ServiceUnavailableMiddleware
from harness.dramaturg_settings import set_dramaturg


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (db.OperationalError("connection to server at 127.0.0.1 failed: Connection refused"), True),
        (db.InterfaceError("the connection is closed"), True),
        (db.OperationalError("database is locked"), True),
        (db.OperationalError("no such table: accounts_user"), False),
        (db.IntegrityError("UNIQUE constraint failed: accounts_user.email"), False),
        (db.ProgrammingError("relation does not exist"), False),
        (ValueError("not a database error"), False),
    ],
)
def test_only_a_database_that_cannot_serve_is_an_outage(error, outage):
    assert is_unavailable(error) is outage


def middleware_answer(path: str, error: Exception, **extra):
    request = RequestFactory().post(path, **extra)
    return ServiceUnavailableMiddleware(HttpResponse).process_exception(request, error)


def test_the_api_gets_its_error_shape_with_retry_after_and_a_page_gets_a_page_in_korean(settings):
    set_dramaturg(settings, "WEB", RETRY_AFTER_S=7)
    api = middleware_answer("/api/signup/", db.OperationalError("database is locked"), content_type="application/json")
    assert api.status_code == 503 and api["Retry-After"] == "7"
    assert list(json.loads(api.content)["errors"]) == ["__all__"]
    with translation.override("ko"):
        page = middleware_answer("/accounts/signup/", db.InterfaceError("the connection is closed"))
    assert page.status_code == 503 and page["Retry-After"] == "7"
    assert "서비스를 사용할 수 없음" in page.content.decode()


def test_an_integrity_error_is_not_hidden_behind_a_503():
    assert middleware_answer("/api/signup/", db.IntegrityError("duplicate key")) is None


def test_the_periodic_reconciler_and_health_check_skip_a_run_while_the_database_is_away(monkeypatch, caplog):
    """They run once per period with max_retries=0: a database outage is logged and left to the next run,
    not a dead letter per run (like a Redis outage)."""
    import accounts.tasks
    import dramaturg.actors

    def unavailable(*args, **kwargs):
        raise db.OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(accounts.tasks, "enqueue_owed", unavailable)
    monkeypatch.setattr(dramaturg.actors, "_check_health", unavailable)
    with caplog.at_level("WARNING"):
        accounts.tasks.reconcile_deliveries.fn()
        dramaturg.actors.check_health.fn()
    assert "Delivery reconciliation could not reach the database" in caplog.text
    assert "Health checks could not reach the database" in caplog.text
