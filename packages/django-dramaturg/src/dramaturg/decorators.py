"""View decorators of the operator's pages (the dashboard, the admin's mount of it, reports)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps

import redis
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from dramaturg import conf


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff only, never cached, and Redis errors handled in one place.

    Anonymous users go to the admin login, logged-in non-staff get 403, and an
    unreachable Redis gives a 503 page that says so instead of a traceback.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied
        try:
            return view(request, *args, **kwargs)
        except redis.RedisError as error:
            return render(request, "dramaturg/redis_down.html", {"error": error}, status=503)

    return never_cache(wrapped)


def bearer_token_matches(request: HttpRequest) -> bool | None:
    """None without an `Authorization` header; else whether it is `Bearer <JOBS_METRICS_TOKEN>`
    (compared in constant time; never true while no token is configured)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    expected = conf.settings.CONSOLE.METRICS_TOKEN
    if scheme.lower() != "bearer" or not expected:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def token_or_staff(*, anonymous: str = "401") -> Callable:
    """A staff session, or `Authorization: Bearer <JOBS_METRICS_TOKEN>` (scrapers, probes).

    A wrong token or a non-staff user: 403. No credentials: 401 with `WWW-Authenticate`
    (anonymous="401", for machine endpoints) or the admin login (anonymous="login", for
    pages people open too). Never cached; Redis errors give a 503 that says so."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            token = bearer_token_matches(request)
            if token is False:
                return JsonResponse({"error": "invalid token"}, status=403)
            if token is None:
                if not request.user.is_authenticated:
                    if anonymous == "login":
                        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
                    response = JsonResponse(
                        {"error": "authentication required: a staff session or Authorization: Bearer <token>"},
                        status=401,
                    )
                    response["WWW-Authenticate"] = 'Bearer realm="jobs"'
                    return response
                if not (request.user.is_active and request.user.is_staff):
                    return JsonResponse({"error": "staff only"}, status=403)
            try:
                return view(request, *args, **kwargs)
            except redis.RedisError as error:
                return JsonResponse({"error": f"Redis is unreachable: {error}"}, status=503)

        return never_cache(wrapped)

    return decorator
