"""Request parsing shared by the operator's pages."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy

from ..params import natural

PAGE_SIZE = 50
MALFORMED = gettext_lazy("Malformed message reference.")


def int_param(request: HttpRequest, name: str, maximum: int) -> int:
    """A non-negative integer query parameter of ASCII digits, at most `maximum` (jobs.params);
    anything else means 0 (the first page)."""
    return natural(request.GET.get(name), maximum=maximum)


def safe_next(request: HttpRequest, default: str) -> str:
    """The form's `next` URL if it stays on this site, else `default`."""
    next_url = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return next_url
