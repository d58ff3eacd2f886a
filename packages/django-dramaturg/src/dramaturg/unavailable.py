"""A backing service is down: answer 503 with Retry-After, in the client's language, never a 500.

The operator's pages answer Redis outages themselves (dramaturg.decorators); this middleware answers the database
going away under any view (a lost PostgreSQL connection, SQLite's write lock not granted within its busy
timeout), and a request shed past capacity by dramaturg.bounded. The request's transaction has rolled back by
then, so nothing of it is written (a signup is committed with its welcome-email outbox row or not at all); the
broken connection is closed so the next request connects again. dramaturg.log.SkipServiceUnavailable keeps
these 503s out of Django's error mail to ADMINS."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from dramaturg import conf

from . import dbconnections
from .bounded import Overloaded

logger = logging.getLogger(__name__)


def wants_json(request: HttpRequest) -> bool:
    """API calls (under /api/, with a JSON body, or asking for JSON: probes of /jobs/health) get JSON;
    pages get HTML."""
    return (
        request.path.startswith("/api/")
        or request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
    )


def unavailable_response(request: HttpRequest, retry_after_s: int | None = None) -> HttpResponse:
    """503 with `Retry-After` (`retry_after_s`, else `WEB.RETRY_AFTER_S`): the API's error shape
    ({"errors": {"__all__": [...]}}) or a page that says to try again."""
    message = _("The service is briefly unavailable; nothing was saved. Please try again in a moment.")
    retry_after = conf.settings.WEB.RETRY_AFTER_S if retry_after_s is None else retry_after_s
    headers = {"Retry-After": str(retry_after)}
    if wants_json(request):
        return JsonResponse({"errors": {"__all__": [message]}}, status=503, headers=headers)
    # Rendered without a request context (no user, no session): nothing on this page needs the database.
    page = render_to_string("dramaturg/unavailable.html", {"message": message})
    return HttpResponse(page, status=503, headers=headers)


class ServiceUnavailableMiddleware:
    """Turns a view's database-unavailable error (dramaturg.dbconnections.is_unavailable) into a 503, and a
    request shed by dramaturg.bounded (`Overloaded`) into a 503 with `Retry-After: WEB.OVERLOADED_RETRY_AFTER_S`.

    Integrity and programming errors are not outages and stay errors (a 500 that is reported)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Overloaded):
            # Past capacity every shed request would log a line: at INFO, out of the error log's way.
            logger.info("Overloaded (%s) for %s %s, answered 503", exception.name, request.method, request.path)
            return unavailable_response(request, conf.settings.WEB.OVERLOADED_RETRY_AFTER_S)
        if not dbconnections.is_unavailable(exception):
            return None
        logger.warning("Database unavailable for %s %s, answered 503: %s", request.method, request.path, exception)
        dbconnections.reset_after(exception)
        return unavailable_response(request)
