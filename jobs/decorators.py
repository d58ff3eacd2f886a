"""View decorators of the operator's pages (the dashboard, the admin's mount of it, reports)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

import redis
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache


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
            return render(request, "jobs/redis_down.html", {"error": error}, status=503)

    return never_cache(wrapped)


def permission_required(permission: str) -> Callable:
    """403 unless the (staff) user has `permission`; put it inside `staff_required`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
