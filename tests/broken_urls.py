"""The project's URLs plus two views that fail, for the tests of the error mail to ADMINS
(tests.settings_broken_views points a web process at them)."""

import logging

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path

from project.urls import handler400  # noqa: F401  # the root URLconf names the error handlers
from project.urls import urlpatterns as project_urlpatterns


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


def broken_transaction(request: HttpRequest) -> HttpResponse:
    """Logs a server error while its transaction is broken: a statement failed inside the atomic
    block, whose connection now refuses every query until the block ends."""
    with transaction.atomic():
        try:
            with transaction.atomic(savepoint=False), connection.cursor() as cursor:
                cursor.execute("SELECT no_such_column FROM no_such_table")
        except DatabaseError:
            assert connection.needs_rollback
            logging.getLogger("django.request").error(
                "Internal Server Error: %s", request.path, exc_info=True, extra={"status_code": 500, "request": request}
            )
            response = HttpResponse("logged inside a broken transaction", status=500)
    return response


urlpatterns = [
    *project_urlpatterns,
    path("test/broken/", broken),
    path("test/broken-transaction/", broken_transaction),
]
