"""Requests refused before any view reads them: a body in another charset than UTF-8 (middleware),
a body too big or with too many fields (Django's handler400). JSON in the API's error shape under
API_PREFIX, a page elsewhere; never a 500, never mail to ADMINS (Django logs the refusal under
`django.security.*`, which LOGGING keeps out of the admins' mail)."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

API_PREFIX = "api/"
# Codecs whose decoding cannot produce text that fails to encode as UTF-8 (UTF-7 or unicode_escape can).
ACCEPTED_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})


def refusal(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """The answer to a refused request: {"errors": {"__all__": [message]}} on the API, a page elsewhere."""
    if request.path_info.startswith(f"/{API_PREFIX}"):
        return JsonResponse({"errors": {"__all__": [message]}}, status=status)
    return render(request, "400.html", {"message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: 413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, else 400 (too many fields or
    files, a malformed multipart body, a disallowed host...)."""
    if isinstance(exception, RequestDataTooBig):
        return refusal(request, 413, _("The request body is too large."))
    return refusal(request, 400, _("The request could not be read (too many fields, or malformed)."))


class RequireUtf8:
    """415 for a request that declares a charset other than UTF-8 (or ASCII, Latin-1): Django
    decodes query strings and form bodies with it, and some codecs yield lone surrogates that
    reach hashers, the database or Redis as text none of them can encode."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.encoding and codecs.lookup(request.encoding).name not in ACCEPTED_CHARSETS:
            return refusal(request, 415, _("Send the request in UTF-8 (charset=utf-8)."))
        return self.get_response(request)
